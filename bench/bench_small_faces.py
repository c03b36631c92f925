"""Benchmark: how many of the full-size detector's faces each detector input size keeps, on
multi-face material, and what re-detecting frames with small faces at full size would buy.

Two clips: tests' group_shots.mp4 (1280x720; mosaic shots of 22 faces at 40-45 px, then close
shots) and a pan across its first mosaic frame scaled to 60% (faces of about 24-27 px), written
here as MJPG so OpenCV alone can make it. For each detector input size: the share of the full-size
detector's faces found (IoU >= 0.5), analysed frames/s, and the same with "escalation": a frame in
which any face is under 32 px at the detector's scale is detected again at full size. Prints a
table and writes the "Small faces" section of bench/RESULTS.md. Usage:
`.venv/bin/python bench/bench_small_faces.py`.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench_pipeline import OUT, write_section  # noqa: E402  (bench/ is sys.path[0])

from screentime.runtime import configure_runtime  # noqa: E402

configure_runtime()
from screentime.vision.boxes import iou_matrix  # noqa: E402
from screentime.vision.detectors import load_detector  # noqa: E402
from screentime.vision.video import FrameReader, probe_video  # noqa: E402

GROUP = REPO / "tests" / "media" / "group_shots.mp4"
SIZES = (640, 800, 960, 1280)
ESCALATE_BELOW_PX = 32
MIN_SCORE = 0.5


def pan_clip(frames: int = 100) -> Path:
    """A 1280x720 pan across group_shots' first (mosaic) frame scaled to 60%: faces of ~24-27 px."""
    target = OUT / "small_faces_pan.avi"
    if target.exists():
        return target
    OUT.mkdir(parents=True, exist_ok=True)
    capture = cv2.VideoCapture(str(GROUP))
    ok, mosaic = capture.read()
    capture.release()
    assert ok
    small = cv2.resize(mosaic, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    canvas = np.zeros((720, 1280 + 400, 3), np.uint8)
    canvas[(720 - small.shape[0]) // 2:(720 - small.shape[0]) // 2 + small.shape[0], 200:200 + small.shape[1]] = small
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (1280, 720))
    for i in range(frames):
        x = int(400 * i / max(frames - 1, 1))
        writer.write(canvas[:, x:x + 1280])
    writer.release()
    return target


def matched(reference: np.ndarray, found: np.ndarray) -> int:
    """Reference faces found again (IoU >= 0.5 with some found box)."""
    if len(reference) == 0 or len(found) == 0:
        return 0
    return int((iou_matrix(reference, found).max(axis=1) >= 0.5).sum())


def measure(clip: Path) -> list[tuple]:
    info = probe_video(clip)
    detector = load_detector("retinaface", "cpu", "", 0)
    full = list(FrameReader(info, 0, det_size=0))
    started = time.perf_counter()
    reference = [detector.detect([f.image], 1.0, MIN_SCORE)[0].xyxy for f in full]
    full_fps = len(full) / (time.perf_counter() - started)
    total = sum(len(r) for r in reference)
    rows = [(clip.name, "full size", total, 1.0, full_fps, "")]
    for size in SIZES:
        frames = list(FrameReader(info, 0, det_size=size))
        scale = frames[0].det_image.shape[1] / info.width
        for escalate in (False, True):
            kept, again = 0, 0
            started = time.perf_counter()
            for frame, ref in zip(frames, reference, strict=True):
                found = detector.detect([frame.det_image], scale, MIN_SCORE)[0].xyxy
                small = len(found) and ((found[:, 3] - found[:, 1]) * scale < ESCALATE_BELOW_PX).any()
                if escalate and scale < 1.0 and small:
                    found = detector.detect([frame.image], 1.0, MIN_SCORE)[0].xyxy
                    again += 1
                kept += matched(ref, found)
            fps = len(frames) / (time.perf_counter() - started)
            label = f"det_size {size}" + (f" + full size when a face < {ESCALATE_BELOW_PX} px" if escalate else "")
            rows.append((clip.name, label, kept, kept / max(total, 1), fps,
                         f"{again}/{len(frames)} frames again" if escalate else ""))
            print(rows[-1], flush=True)
    return rows


def main() -> int:
    rows = measure(GROUP) + measure(pan_clip())
    lines = ["| clip | detector input | faces kept | share of full size | frames/s | note |", "|---|---|---|---|---|---|"]
    lines += [f"| {c} | {label} | {kept} | {share:.1%} | {fps:.1f} | {note} |" for c, label, kept, share, fps, note in rows]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    body = "\n".join(lines) + (f"\n\nOn {machine}; detection only (one frame per call, decoding not timed), "
                               f"min_score {MIN_SCORE}. A starting point for issue 13's default det_size.")
    print(body)
    write_section("Small faces", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
