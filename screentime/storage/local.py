"""Artifacts on the local disk: every write is a temp file + fsync + rename."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from screentime.contracts.errors import StorageError
from screentime.storage.base import Storage, check_key


class LocalStorage(Storage):
    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).expanduser().resolve()

    @property
    def root_uri(self) -> str:
        return str(self.root)

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_new(self, key: str, data: bytes, content_type: str | None = None) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.link(tmp, target)  # a hard link fails if the target exists: create-only, and whole
        finally:
            Path(tmp).unlink(missing_ok=True)

    def get_bytes(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def list_keys(self, prefix: str) -> list[str]:
        base = self.root / check_key(prefix) if prefix else self.root
        if not base.is_dir():
            return []
        keys = []
        for path in base.rglob("*"):
            if path.is_file() and not path.name.endswith(".tmp"):
                keys.append(path.relative_to(self.root).as_posix())
        return sorted(keys)

    def delete_prefix(self, prefix: str) -> int:
        base = self.path(prefix)
        if not base.exists():
            return 0
        count = sum(1 for p in base.rglob("*") if p.is_file())
        shutil.rmtree(base)
        return count

    def list_folders(self, prefix: str) -> list[str]:
        """Every folder, also an empty one or one holding only temp files a killed writer left."""
        base = self.path(prefix)
        return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def append_text(self, key: str, text: str) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(text)

    def check_writable(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=self.root, prefix=".write-check-", delete=True)
            probe.close()
        except OSError as exc:
            raise StorageError(f"cannot write to the data directory {self.root}: {exc}") from exc
