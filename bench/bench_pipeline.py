"""Benchmark: Screentime against the decode floor and the plain script a user would write.

Prints a table and writes bench/RESULTS.md (the "Pipeline throughput" section). Everything runs
in one go, on the same file, on this machine:

- decode-only: OpenCV reading every frame (the floor);
- plain script: OpenCV read -> retinaface.detect_faces (the package's own per-image API, full
  frame) -> BYTETracker -> a JPEG crop per track per frame; no batching, no overlap;
- Screentime in-process: the real Dagster job, materialised with execute_in_process;
- Screentime CLI: `screentime run` end to end (start-up and run bookkeeping included);
- peak RSS of `screentime run` on a 1-minute and a 10-minute version of the clip.

The clip is a real one (tests' cap13_edit2.mp4, 400x300, 4:3) looped with ffmpeg to the wanted
length, scaled to 720 lines and pillarboxed to 1280x720 H.264, as 4:3 footage airs in 16:9. Usage: `make bench` or `.venv/bin/python bench/bench_pipeline.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
DEFAULT_SOURCE = REPO / "tests" / "media" / "cap13_edit2.mp4"


def make_clip(source: Path, seconds: int) -> Path:
    """Loop a real clip to `seconds` at 720p H.264 (cached under bench/out)."""
    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / f"{source.stem}_{seconds}s_720p.mp4"
    if target.exists():
        return target
    cap = cv2.VideoCapture(str(source))
    clip_s = cap.get(cv2.CAP_PROP_FRAME_COUNT) / cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    loops = int(np.ceil(seconds / clip_s))
    tmp = target.with_suffix(".part.mp4")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", str(loops - 1), "-i", str(source),
                    "-t", str(seconds), "-vf", "scale=-2:720,pad=1280:720:(ow-iw)/2:0", "-c:v", "libx264", "-preset", "veryfast",
                    "-pix_fmt", "yuv420p", "-an", str(tmp)], check=True)
    tmp.replace(target)
    return target


def decode_only(path: Path) -> dict:
    cap = cv2.VideoCapture(str(path))
    start, n = time.perf_counter(), 0
    while True:
        ok, _ = cap.read()
        if not ok:
            break
        n += 1
    seconds = time.perf_counter() - start
    return {"frames": n, "analysed": n, "seconds": seconds}


def plain_script(path: Path, step: int, out_dir: Path) -> dict:
    """The loop a user would write with the same detector package and tracker."""
    from types import SimpleNamespace

    import retinaface
    from ultralytics.trackers.byte_tracker import BYTETracker

    from screentime.vision.tracking import _TrackerInput

    tracker = BYTETracker(SimpleNamespace(track_high_thresh=0.6, track_low_thresh=0.3, new_track_thresh=0.7,
                                          track_buffer=30, match_thresh=0.8, fuse_score=True))
    out_dir.mkdir(parents=True, exist_ok=True)
    cap = cv2.VideoCapture(str(path))
    boxes_per_frame: dict[int, np.ndarray] = {}
    start, index, analysed = time.perf_counter(), 0, 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if index % step == 0:
            analysed += 1
            faces = retinaface.detect_faces(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), score_threshold=0.5)
            xyxy = np.array([[f.x, f.y, f.x + f.width, f.y + f.height] for f in faces], np.float32).reshape(-1, 4)
            conf = np.array([f.score for f in faces], np.float32)
            boxes_per_frame[index] = xyxy
            xywh = np.column_stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, (xyxy[:, 1] + xyxy[:, 3]) / 2,
                                    xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]]).reshape(-1, 4)
            for row in tracker.update(_TrackerInput(conf, xywh.astype(np.float32))):
                x1, y1, x2, y2 = (max(0, int(v)) for v in row[:4])
                cv2.imwrite(str(out_dir / f"track{int(row[4])}_{index}.jpg"), frame[y1:y2, x1:x2])
        index += 1
    seconds = time.perf_counter() - start
    return {"frames": index, "analysed": analysed, "seconds": seconds, "boxes": boxes_per_frame}


def screentime_in_process(path: Path, fps: float, data_dir: Path, det_size: int) -> dict:
    import dagster as dg
    import pyarrow.parquet as pq

    from screentime.contracts.options import RunOptions
    from screentime.contracts.run_config import episode_run_config
    from screentime.pipelines.definitions import build_defs
    from screentime.resources import StorageResource

    defs = build_defs(StorageResource(backend="local", data_dir=str(data_dir)))
    ep = "bench-s01e01"
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("episodes", [ep])
        job = defs.resolve_job_def("episode_job")
        start = time.perf_counter()
        result = job.execute_in_process(
            run_config=episode_run_config(RunOptions(fps=fps, det_size=det_size, save_crops=True), str(path)),
            instance=instance, partition_key=ep)
        seconds = time.perf_counter() - start
    manifest = json.loads((data_dir / "artifacts/manifests/bench/s01/e01/manifest.json").read_text())
    dets = pq.read_table(data_dir / f"artifacts/manifests/bench/s01/e01/{result.run_id}/detections.parquet")
    boxes: dict[int, list] = {}
    for row in dets.select(["frame_index", "x1", "y1", "x2", "y2"]).to_pylist():
        boxes.setdefault(row["frame_index"], []).append([row["x1"], row["y1"], row["x2"], row["y2"]])
    return {"frames": manifest["source"]["frame_count"], "analysed": manifest["counts"]["frames_analyzed"],
            "seconds": seconds, "analysis_seconds": manifest["timings"]["seconds"],
            "boxes": {k: np.array(v, np.float32) for k, v in boxes.items()}}


def screentime_cli(path: Path, fps: float, workdir: Path, det_size: int) -> dict:
    """`screentime run` in a child process: wall time and the child's peak RSS."""
    env = {**os.environ, "DAGSTER_HOME": str(workdir / "dagster_home"), "SCREENTIME_DATA_DIR": str(workdir / "data"),
           "STORAGE_BACKEND": "local"}
    exe = Path(sys.executable).parent / "screentime"
    cmd = [str(exe), "run", str(path), "--ep-id", "bench-s01e02", "--fps", str(fps), "--det-size", str(det_size),
           "--quiet"]
    code = ("import resource, subprocess, sys, json, time; t = time.perf_counter(); "
            "r = subprocess.run(sys.argv[1:]); s = time.perf_counter() - t; "
            "print(json.dumps({'rc': r.returncode, 'seconds': s, "
            "'maxrss_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))")
    done = subprocess.run([sys.executable, "-c", code, *cmd], env=env, capture_output=True, text=True)
    info = json.loads(done.stdout.strip().splitlines()[-1])
    if info["rc"] != 0:
        raise RuntimeError(f"screentime run failed: {done.stderr[-2000:]}")
    manifest = json.loads((workdir / "data/artifacts/manifests/bench/s01/e02/manifest.json").read_text())
    return {"frames": manifest["source"]["frame_count"], "analysed": manifest["counts"]["frames_analyzed"],
            "seconds": info["seconds"], "analysis_seconds": manifest["timings"]["seconds"],
            "maxrss_mb": info["maxrss_kb"] / 1024}


def matched_fraction(reference: dict[int, np.ndarray], candidate: dict[int, np.ndarray], iou: float = 0.5) -> float:
    """Share of the reference's boxes that the candidate also found (IoU >= iou, same frame)."""
    from screentime.vision.boxes import iou_matrix

    total = found = 0
    for frame, ref in reference.items():
        total += len(ref)
        cand = candidate.get(frame, np.zeros((0, 4), np.float32))
        if len(ref) and len(cand):
            found += int(np.count_nonzero(iou_matrix(ref, cand).max(axis=1) >= iou))
    return found / total if total else 1.0


def det_size_sweep(path: Path, fps: float, reference: dict[int, np.ndarray], sizes: list[int]) -> list[str]:
    """The detector input size is the biggest lever on the CPU: its speed and what it costs in faces."""
    from screentime.analysis.episode import analyze_episode
    from screentime.contracts.episode import parse_episode_id
    from screentime.contracts.options import RunOptions
    from screentime.storage import LocalStorage
    from screentime.vision.detectors import load_detector
    from screentime.vision.video import probe_video

    info = probe_video(path)
    lines = ["| det_size | detector input | analysed frames/s | faces found | plain script's faces kept |",
             "|---|---|---|---|---|"]
    for size in sizes:
        load_detector("retinaface", "cpu", "", size)  # warm: measure the analysis, not the model load
        with tempfile.TemporaryDirectory() as tmp:
            analysis = analyze_episode(parse_episode_id("sweep-s01e01"), info, "sweep", RunOptions(
                fps=fps, det_size=size, save_crops=False), LocalStorage(tmp))
        boxes: dict[int, list] = {}
        for row in analysis.detections.select(["frame_index", "x1", "y1", "x2", "y2"]).to_pylist():
            boxes.setdefault(row["frame_index"], []).append([row["x1"], row["y1"], row["x2"], row["y2"]])
        kept = matched_fraction(reference, {k: np.array(v, np.float32) for k, v in boxes.items()})
        scale = min(1.0, size / max(info.width, info.height)) if size else 1.0
        lines.append(f"| {size} | {round(info.width * scale)}x{round(info.height * scale)} "
                     f"| {analysis.timings.fps:.0f} | {analysis.detections.num_rows} | {kept:.1%} |")
    return lines


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--seconds", type=int, default=60, help="length of the main clip")
    parser.add_argument("--long-seconds", type=int, default=600, help="length of the clip for the RSS check")
    parser.add_argument("--sampled-fps", type=float, default=8.0)
    parser.add_argument("--det-size", type=int, default=640)
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()

    clip = make_clip(args.source, args.seconds)
    cap = cv2.VideoCapture(str(clip))
    src_fps, width, height = cap.get(cv2.CAP_PROP_FPS), int(cap.get(3)), int(cap.get(4))
    cap.release()
    step = max(1, round(src_fps / args.sampled_fps))
    rows = []
    plain_by_step: dict[int, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        floor = decode_only(clip)
        rows.append(("decode-only (OpenCV)", "every frame", floor, None))
        for label, fps, plain_step in (("every frame", 0.0, 1), (f"{src_fps / step:g} fps (every {step})", src_fps / step, step)):
            plain = plain_script(clip, plain_step, tmp / f"plain{plain_step}")
            plain_by_step[plain_step] = plain
            ours = screentime_in_process(clip, fps, tmp / f"ours{plain_step}", args.det_size)
            kept = matched_fraction(plain["boxes"], ours["boxes"])
            cli = screentime_cli(clip, fps, tmp / f"cli{plain_step}", args.det_size)
            rows += [("plain script", label, plain, None), ("Screentime in-process", label, ours, kept),
                     ("Screentime CLI", label, cli, None)]
        sweep = det_size_sweep(clip, src_fps / step, plain_by_step[step]["boxes"], [0, 960, 640, 480, 320])
        long_clip = make_clip(args.source, args.long_seconds)
        rss_short = screentime_cli(clip, src_fps / step, tmp / "rss1", args.det_size)
        rss_long = screentime_cli(long_clip, src_fps / step, tmp / "rss10", args.det_size)

    def fps_of(r):  # source frames processed per second (the clip's frames / wall time)
        return r["frames"] / r["seconds"]

    plain_by_label = {label: r for name, label, r, _ in rows if name == "plain script"}
    lines = [
        f"Clip: {clip.name} ({width}x{height}, {src_fps:g} fps, {floor['frames']} frames, "
        f"looped from {args.source.name}); det_size={args.det_size}; machine: {machine()}",
        "",
        "| pipeline | analysed | seconds | source frames/s | analysed frames/s | vs decode-only | vs plain script | plain's faces kept |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, label, r, kept in rows:
        plain = plain_by_label.get(label)
        vs_plain = f"{fps_of(r) / fps_of(plain):.2f}x" if plain and name != "plain script" and name != "decode-only (OpenCV)" else ""
        lines.append(
            f"| {name} | {label} ({r['analysed']}) | {r['seconds']:.1f} | {fps_of(r):.0f} | {r['analysed'] / r['seconds']:.0f} "
            f"| {fps_of(r) / fps_of(floor):.2f}x | {vs_plain} | {'' if kept is None else f'{kept:.1%}'} |")
    lines += [
        "",
        f"CLI fixed overhead (CLI wall time minus the analysis itself), every frame: "
        f"{rows[3][2]['seconds'] - rows[3][2]['analysis_seconds']:.1f} s; sampled: "
        f"{rows[6][2]['seconds'] - rows[6][2]['analysis_seconds']:.1f} s",
        "",
        f"Peak RSS of `screentime run` at {src_fps / step:g} fps: {args.seconds} s clip {rss_short['maxrss_mb']:.0f} MB, "
        f"{args.long_seconds} s clip {rss_long['maxrss_mb']:.0f} MB "
        f"(ratio {rss_long['maxrss_mb'] / rss_short['maxrss_mb']:.2f})",
        "",
        f"Detector input size at {src_fps / step:g} fps (analysis only, model already loaded; the plain script "
        "runs the detector on the full frame):",
        "",
        *sweep,
    ]
    report = "\n".join(lines)
    print(report)
    if not args.no_write:
        write_section("Pipeline throughput (bench/bench_pipeline.py)", report)
    return 0


def write_section(title: str, body: str) -> None:
    """Replace (or add) one `## title` section of bench/RESULTS.md, leaving the others alone."""
    path = REPO / "bench" / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    header = f"## {title}"
    stamp = time.strftime("%Y-%m-%d", time.gmtime())
    section = f"{header}\n\nMeasured {stamp}.\n\n{body}\n"
    if header in text:
        start = text.index(header)
        nxt = text.find("\n## ", start + len(header))
        text = text[:start] + section + (text[nxt + 1:] if nxt != -1 else "")
    else:
        text = text.rstrip() + "\n\n" + section
    path.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
