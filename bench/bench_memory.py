"""Benchmark: peak memory of one analysis at 720p, 4K and 8K, with the options that used to blow it
up (`--batch-size 256`, `--det-size 0`), bounded by SCREENTIME_FRAME_MEMORY_MB (the default) and
unbounded (a budget of 1 TB, which is how it behaved before the bound).

Each case runs `analyze_episode` in its own process on a synthetic clip (tests' cap13_edit2.mp4
scaled up, Motion-JPEG in AVI, so OpenCV alone can write any size) and reports that process's peak
RSS. A case refused up front (one frame over the budget: 8K at `--det-size 0`) shows the process's
peak when refused. Prints a table and writes the "Memory by frame size" section of bench/RESULTS.md. Usage:
`make bench-memory` or `.venv/bin/python bench/bench_memory.py [--quick]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench_pipeline import OUT, write_section  # noqa: E402  (bench/ is sys.path[0])

SOURCE = REPO / "tests" / "media" / "cap13_edit2.mp4"  # 765 frames
SIZES = {"720p": (1280, 720), "4K": (3840, 2160), "8K": (7680, 4320)}
UNBOUNDED_MB = 1024 * 1024  # 1 TB: no cap in practice


def make_clip(name: str, size: tuple[int, int], frames: int, fps: float = 10.0) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / f"memory_{name}_{frames}f.avi"
    if target.exists():
        return target
    cap = cv2.VideoCapture(str(SOURCE))
    writer = cv2.VideoWriter(str(target.with_suffix(".part.avi")), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for _ in range(frames):
        ok, frame = cap.read()
        if not ok:
            break
        writer.write(cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR))
    writer.release()
    cap.release()
    target.with_suffix(".part.avi").replace(target)
    return target


CHILD = """
import json, resource, sys
from screentime.runtime import configure_runtime
configure_runtime()
from screentime.analysis.episode import analyze_episode
from screentime.contracts.episode import parse_episode_id
from screentime.contracts.options import RunOptions
from screentime.storage import LocalStorage
from screentime.contracts.errors import InvalidOption
from screentime.vision.video import probe_video
options = RunOptions(**json.loads(sys.argv[2]))
warnings = []
try:
    analysis = analyze_episode(parse_episode_id("bench-s01e01"), probe_video(sys.argv[1]), "bench", options,
                               LocalStorage(sys.argv[3]), on_warning=warnings.append)
except InvalidOption as refused:  # one frame over the budget: refused before any frame is decoded
    print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "frames": 0,
                      "seconds": 0.0, "capped": f"refused: {refused}"}))
    sys.exit(0)
print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "frames": analysis.frames.num_rows, "seconds": analysis.seconds,
                  "capped": next((w for w in warnings if "capped" in w), "")}))
"""


def run_case(clip: Path, options: dict, budget_mb: int | None) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(os.cpu_count()))}
    if budget_mb is not None:
        env["SCREENTIME_FRAME_MEMORY_MB"] = str(budget_mb)
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run([sys.executable, "-c", CHILD, str(clip), json.dumps(options), out],
                              env=env, capture_output=True, text=True, timeout=3600, cwd=REPO)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="720p and 4K only, fewer frames")
    args = parser.parse_args()
    sizes = {k: v for k, v in SIZES.items() if not (args.quick and k == "8K")}
    cases = [("batch 256, det_size 640, every frame", {"batch_size": 256, "save_crops": False, "fps": 0}),
             ("det_size 0 (full size), 2 fps", {"det_size": 0, "save_crops": False, "fps": 2})]
    rows = []
    for name, size in sizes.items():
        frames = {"720p": 300, "4K": 300, "8K": 20}[name] // (2 if args.quick else 1)
        clip = make_clip(name, size, frames)
        for label, options in cases:
            for bound, budget in (("bounded (default 2048 MB)", None), ("unbounded", UNBOUNDED_MB)):
                result = run_case(clip, options, budget)
                rows.append((name, label, bound, result))
                print(name, label, bound, result, flush=True)
    lines = ["| frames | options | memory | peak RSS | frames analysed | note |", "|---|---|---|---|---|---|"]
    for name, label, bound, result in rows:
        if "error" in result:
            lines.append(f"| {name} | {label} | {bound} | failed | | {result['error'][:80]} |")
        else:
            note = result["capped"]
            note = note if note.startswith("refused") else note[:90]
            lines.append(f"| {name} | {label} | {bound} | {result['peak_mb']:,.0f} MB | {result['frames']} | {note} |")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    body = "\n".join(lines) + (f"\n\nOn {machine}; clips are cap13_edit2.mp4 scaled up (MJPG AVI). "
                               "\"unbounded\" sets SCREENTIME_FRAME_MEMORY_MB to 1 TB, which is how a run "
                               "behaved before the bound (the decode queue held 2 x batch frames, the batch "
                               "was whatever was asked).")
    print(body)
    write_section("Memory by frame size", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
