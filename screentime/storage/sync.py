"""Copy a local folder into any storage (e.g. videos or a data folder into the bucket).

Files keep their relative paths under `prefix`. `manifest.json` files are the commit points of the
artifact layout, so they go up after everything else: a reader never finds a manifest whose outputs
are not in the bucket yet. Half-written `.tmp` files and hidden files stay behind.
"""

from __future__ import annotations

from pathlib import Path

from screentime.storage.base import Storage, check_key

COMMIT_FILES = ("manifest.json",)


def _skipped(path: Path) -> bool:
    return path.name.startswith(".") or path.name.endswith(".tmp")


def sync_tree(local_dir: str | Path, storage: Storage, prefix: str = "") -> list[str]:
    """Upload every file under `local_dir` to `<prefix>/<relative path>`; return the keys, in order."""
    root = Path(local_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder")
    files = [p for p in root.rglob("*") if p.is_file() and not _skipped(p)]
    files.sort(key=lambda p: (p.name in COMMIT_FILES, p.relative_to(root).as_posix()))
    keys = []
    for path in files:
        key = check_key(f"{prefix.strip('/')}/{path.relative_to(root).as_posix()}".lstrip("/"))
        storage.put_file(key, path)
        keys.append(key)
    return keys
