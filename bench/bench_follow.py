"""Benchmark: how often to detect the whole frame in shots of small faces (`full_detect_every`).

On the bench's multi-face pan (bench/make_pan_clip.py: 1280x720, ~29 faces of 20-45 px, a pan and
zoom) and tests' fast pan (27 px a frame over 24-27 px faces), Screentime's real Dagster job at the
defaults with `full_detect_every` k = 1, 4, 8, 12 and 16: frames/s of the analysis, the share of
the full-size detector's faces kept (IoU >= 0.5, same frame), tracks, frames followed. k = 8 is
the default; docs/performance.md ("Detect less, track more") reads the table.

Usage: `.venv/bin/python bench/bench_follow.py [--no-write]` (about 4 minutes on 2 idle cores);
writes its section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))
from bench_pipeline import machine, matched_fraction, screentime_in_process, write_section  # noqa: E402

EVERY = (1, 4, 8, 12, 16)


def fast_pan(folder: Path) -> Path:
    from tests.test_small_faces import pan_over_small_faces

    return pan_over_small_faces(REPO / "tests" / "media" / "group_shots.mp4", folder / "fast_pan.avi")


def sweep(clip: Path, tmp: Path) -> list[str]:
    full = screentime_in_process(clip, 0.0, tmp / "full", det_size=0)
    lines = [f"**{clip.name}** ({full['frames']} frames; full size: "
             f"{full['frames'] / full['analysis_seconds']:.1f} frames/s, {full['tracks']} tracks)", "",
             "| full_detect_every | frames/s | full size's faces kept | tracks | frames in full / followed |",
             "|---|---|---|---|---|"]
    for k in EVERY:
        r = screentime_in_process(clip, 0.0, tmp / f"k{k}", det_size=-1, full_detect_every=k)
        lines.append(f"| {k}{' (default)' if k == 8 else ''} | {r['frames'] / r['analysis_seconds']:.1f} "
                     f"| {matched_fraction(full['boxes'], r['boxes']):.1%} | {r['tracks']} "
                     f"| {r['frames_fine']} / {r['frames_followed']} |")
        print(lines[-1], flush=True)
    return lines + [""]


def main() -> int:
    from make_pan_clip import pan_clip

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    lines = [f"Machine: {machine()}. The real Dagster job in-process at the defaults but for "
             "`full_detect_every`, every frame, crops saved.", ""]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for clip in (pan_clip(10.0), fast_pan(tmp)):
            lines += sweep(clip, tmp / clip.stem)
    report = "\n".join(lines)
    print(report)
    if not args.no_write:
        write_section("Full passes in shots of small faces (bench/bench_follow.py)", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
