"""Benchmark: how many of the full-size detector's faces the analysis keeps, on multi-face
material, by detector input size and by the small-face rule (`small_face_px`).

Four clips: tests' group_shots.mp4 (1280x720; mosaic shots of 22 faces at 40-45 px, then close
shots), a pan across its first mosaic frame scaled to 60% (faces of about 24-27 px), written
here as MJPG so OpenCV alone can make it, a 20 s single-face close-up (cap13_edit2 pillarboxed
to 720p, as `make bench` makes it), and group_shots scaled up to 3840x2160 (every 5th frame; faces
of 120-135 px: what a 4K master of the same framing holds). At 4K the reference is the 1920 px
input (the top of the ladder there), not the source size: RetinaFace's largest anchors are 512 px,
and a full 3840 px pass splits the close shots' 420-540 px faces into several boxes (7-15 "faces"
where there are 3-4), so it is no truth to count against. Each row is a real analysis (`analyze_episode`: decode,
detect, track; no JPEG exports) of every frame; "faces kept" counts the full-size run's boxes that
the row's run also found (IoU >= 0.5, same frame). Prints a table and writes the "Small faces"
section of bench/RESULTS.md. Usage: `.venv/bin/python bench/bench_small_faces.py`.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench_pipeline import OUT, boxes_by_frame, matched_fraction, write_section  # noqa: E402  (bench/ is sys.path[0])

from screentime.runtime import configure_runtime  # noqa: E402

configure_runtime()
from screentime.vision.detectors import load_detector  # noqa: E402
from screentime.vision.video import probe_video  # noqa: E402

GROUP = REPO / "tests" / "media" / "group_shots.mp4"
RUNS = ((0, 0), (640, 0), (320, 0), (640, 16), (320, 12), (320, 16), (320, 20))  # (det_size, small_face_px)
RUNS_4K = ((1920, 0), (640, 0), (320, 0), (640, 16), (320, 16))  # the first run is the reference
def pan_clip(frames: int = 100) -> Path:
    """A 1280x720 pan across group_shots' first (mosaic) frame scaled to 60%: faces of ~24-27 px
    (made as tests/test_small_faces.py makes its shorter one; cached under bench/out)."""
    from tests.test_small_faces import pan_over_small_faces

    target = OUT / "small_faces_pan.avi"
    if not target.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        pan_over_small_faces(GROUP, target, frames)
    return target


def group_shots_4k() -> Path:
    """group_shots' every 5th frame scaled up to 3840x2160, MJPG at 5 fps (cached under bench/out)."""
    import cv2
    import numpy as np

    target = OUT / "group_shots_4k.avi"
    if target.exists():
        return target
    OUT.mkdir(parents=True, exist_ok=True)
    capture = cv2.VideoCapture(str(GROUP))
    tmp = target.with_suffix(".part.avi")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (3840, 2160))
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index % 5 == 0:
            writer.write(np.ascontiguousarray(cv2.resize(frame, (3840, 2160), interpolation=cv2.INTER_CUBIC)))
        index += 1
    capture.release()
    writer.release()
    tmp.replace(target)
    return target


def analyse(clip: Path, det_size: int, small_face_px: int):
    import tempfile

    from screentime.analysis.episode import analyze_episode
    from screentime.contracts.episode import parse_episode_id
    from screentime.contracts.options import RunOptions
    from screentime.storage import LocalStorage

    options = RunOptions(det_size=det_size, small_face_px=small_face_px, save_crops=False)
    load_detector("retinaface", "cpu")  # warm: time the analysis, not the model load
    with tempfile.TemporaryDirectory() as tmp:
        return analyze_episode(parse_episode_id("bench-s01e01"), probe_video(clip), "bench", options, LocalStorage(tmp))


def measure(clip: Path, runs=RUNS) -> list[tuple]:
    rows, reference = [], None
    for det_size, small_face_px in runs:
        analysis = analyse(clip, det_size, small_face_px)
        found = boxes_by_frame(analysis.detections)
        reference = reference or found
        total = sum(len(v) for v in reference.values())
        label = ("full size" if det_size == 0 else f"det_size {det_size}"
                 + (f", small_face_px {small_face_px}" if small_face_px else ""))
        n = round(matched_fraction(reference, found) * total)
        counts = analysis.counts
        rows.append((clip.name, label, n, n / max(total, 1), analysis.timings.fps,
                     f"{counts.frames_fine}/{counts.frames_analyzed} frames above det_size" if small_face_px else ""))
        print(rows[-1], flush=True)
    return rows


def main() -> int:
    from bench_pipeline import DEFAULT_SOURCE, make_clip

    rows = (measure(GROUP) + measure(pan_clip()) + measure(make_clip(DEFAULT_SOURCE, 20))
            + measure(group_shots_4k(), RUNS_4K))
    lines = ["| clip | detector input | faces kept | share of the reference (first row) | frames/s | note |", "|---|---|---|---|---|---|"]
    lines += [f"| {c} | {label} | {kept} | {share:.1%} | {fps:.1f} | {note} |" for c, label, kept, share, fps, note in rows]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    body = "\n".join(lines) + (f"\n\nOn {machine}; "
                               "analysed frames/s of the whole analysis (decode, detection, tracking; no JPEGs), every frame, "
                               "default min_score and batch size.")
    print(body)
    write_section("Small faces", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
