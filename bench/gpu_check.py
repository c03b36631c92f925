"""The GPU check: what one machine does with 720p episodes, on CUDA or on the CPU (issue 23).

Runs on whatever `--device` resolves to (auto: CUDA when present) and says which:
1. decode-only passes, one per decoder that can run there (the FrameReader, to BGR numpy plus the
   det_size copy): on the CPU OpenCV, PyAV and torchcodec; on CUDA torchcodec (NVDEC) and PyAV;
2. a detector-only pass over the default decoder's det_size frames, at the run's batch size;
3. one episode, then `--episodes` at once (separate processes, the real `analyze_episode` with the
   default options, crops written), after every process has loaded its model: frames/s per
   episode and summed, and the GPU memory they held (peak);
4. detections of the CUDA path (torchcodec NVDEC + the GPU detector) against the CPU path's
   (PyAV + the CPU detector) on the base clip, boxes matched per frame by IoU; on the CPU, the
   torchcodec CPU path against the default CPU path. Exit 1 when they differ beyond the tolerance.

The clip is tests/media/group_shots.mp4 (1280x720, 25 fps, 21 s, group photos), looped (packets
copied, not re-encoded) to `--seconds`: by default 9 s (225 frames) on the CPU, 240 s (6,000
frames) on CUDA; the passes and the comparison run on at most its first 21 s. Prints markdown tables and writes the "GPU check (bench/gpu_check.sh)" section of
bench/RESULTS.md (--no-write: print only). docs/gpu.md says how to read it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench_pipeline import OUT, write_section  # noqa: E402  (bench/ is sys.path[0])

BASE_CLIP = REPO / "tests" / "media" / "group_shots.mp4"
SECTION = "GPU check (bench/gpu_check.sh)"
DET_SIZE = 320  # RunOptions' default


# --- the workers: each runs in its own process -------------------------------------------------------


def passes(clip: str, device: str) -> dict:
    """Decode-only passes (best of two) for each decoder on `device`, then the detector alone."""
    from screentime.vision.detectors import load_detector
    from screentime.vision.video import FrameReader, probe_video

    info = probe_video(clip)
    # The default decoder first: its frames feed the detector pass.
    backends = (
        [("torchcodec", device), ("pyav", "cpu")]
        if device != "cpu"
        else [("pyav", "cpu"), ("opencv", "cpu"), ("torchcodec", "cpu")]
    )
    decode, det_images, scale = [], [], 1.0
    for backend, where in backends:
        best = None
        for attempt in range(2 if device != "cpu" else 1):  # best of two where it is quick
            reader = FrameReader(info, 0, DET_SIZE, device=where, decoder=backend)
            started = time.perf_counter()
            frames = 0
            for frame in reader:
                frames += 1
                if attempt == 0 and backend == backends[0][0] and where == backends[0][1]:
                    det_images.append(frame.det_image)
            seconds = time.perf_counter() - started
            best = seconds if best is None else min(best, seconds)
        scale = reader.scale
        decode.append({"decoder": reader.decoder.label, "frames": frames, "seconds": best, "fps": frames / best})
    detector = load_detector("retinaface", device)
    batch = 32 if device.startswith("cuda") else 2  # the run's default batch (analyze_episode)
    detector.detect(det_images[:batch], scale, 0.5)  # warm: kernels, cuDNN's choices
    _sync(device)
    started = time.perf_counter()
    for i in range(0, len(det_images), batch):
        detector.detect(det_images[i : i + batch], scale, 0.5)
    _sync(device)
    seconds = time.perf_counter() - started
    return {
        "decode": decode,
        "detector": {"frames": len(det_images), "batch": batch, "seconds": seconds, "fps": len(det_images) / seconds},
    }


def episode(clip: str, device: str, decoder: str, out: str, wait: bool, every: int = 0) -> dict:
    """One real analyze_episode, default options (but `full_detect_every` when not 0), after the
    model is loaded (and, with `wait`, after a line on stdin, so that several start together)."""
    # The decoder under test: the one thing this changes (auto = what a run picks on `device`),
    # chosen as a user would, through the setting analyze_episode reads.
    os.environ["SCREENTIME_DECODER"] = decoder
    from screentime.analysis.episode import analyze_episode
    from screentime.contracts.episode import parse_episode_id
    from screentime.contracts.options import RunOptions
    from screentime.storage import LocalStorage
    from screentime.vision.detectors import load_detector
    from screentime.vision.video import probe_video

    detector = load_detector("retinaface", device)  # cached: the run below reuses it
    detector.detect([np.zeros((180, 320, 3), np.uint8)] * 2, 0.25, 0.5)
    if device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats(device)
    info = probe_video(clip)
    if wait:
        print("ready", flush=True)
        sys.stdin.readline()
    warnings: list[str] = []
    started = time.time()
    analysis = analyze_episode(
        parse_episode_id("gpucheck-s01e01"),
        info,
        "run1",
        RunOptions(device=device, full_detect_every=every),
        LocalStorage(Path(out) / "data"),
        on_warning=warnings.append,
    )
    ended = time.time()
    dets = analysis.detections
    np.savez(
        Path(out) / "detections.npz",
        frame=dets["frame_index"].to_numpy(),
        box=np.stack([dets[c].to_numpy() for c in ("x1", "y1", "x2", "y2")], axis=1).reshape(-1, 4),
    )
    peak = None
    if device.startswith("cuda"):
        import torch

        peak = torch.cuda.max_memory_reserved(device)
    return {
        "frames": analysis.counts.frames_analyzed,
        "seconds": analysis.seconds,
        "start": started,
        "end": ended,
        "detections": len(dets),
        "tracks": analysis.tracks.num_rows,
        "decoder": analysis.decoder,  # what really decoded (the manifest's `decoder`)
        "torch_peak_bytes": peak,
        "warnings": warnings,
        "out": out,
    }


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)


# --- the parent: clips, processes, memory, comparison, report ----------------------------------------


def _worker_command(*args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--worker", *args]


def _run_worker(*args: str) -> dict:
    done = subprocess.run(_worker_command(*args), capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"gpu_check: worker {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_episodes(clip: Path, device: str, decoder: str, count: int, folder: Path) -> list[dict]:
    """`count` episodes at once, each in its own process, started together once all are loaded."""
    procs = []
    for i in range(count):
        out = folder / f"ep{i}"
        out.mkdir(parents=True, exist_ok=True)
        procs.append(
            subprocess.Popen(
                _worker_command("episode", str(clip), device, decoder, str(out), "wait"),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=REPO,
            )
        )
    for proc in procs:
        line = proc.stdout.readline()
        if line.strip() != "ready":
            proc.wait()
            raise SystemExit(f"gpu_check: an episode process did not start:\n{proc.stderr.read()[-3000:]}")
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = []
    for proc in procs:
        stdout, stderr = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"gpu_check: an episode process failed:\n{stderr[-3000:]}")
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    return results


class GpuMemory:
    """Peak device memory in use (all processes: contexts, the models, NVDEC's surfaces), sampled."""

    def __init__(self, device: str):
        self.device = device
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _used(self) -> int:
        import torch

        free, total = torch.cuda.mem_get_info(torch.device(self.device))
        return total - free

    def __enter__(self):
        if self.device.startswith("cuda"):
            self.baseline = self._used()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, self._used() - self.baseline)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def clip_of(seconds: float) -> Path:
    """group_shots.mp4 played over and over for `seconds` (to the next keyframe, every 2 s there),
    its packets copied with shifted times: the same pictures, no re-encoding (cached in bench/out)."""
    import av

    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / f"{BASE_CLIP.stem}_{seconds:g}s.mp4"
    if target.exists():
        return target
    tmp = target.with_suffix(".part.mp4")
    with av.open(str(BASE_CLIP)) as inp, av.open(str(tmp), "w") as out:
        stream_in = inp.streams.video[0]
        stream_out = out.add_stream_from_template(stream_in)
        cut = round(seconds / stream_in.time_base)
        offset = end = 0
        while True:
            inp.seek(0)
            for packet in inp.demux(stream_in):
                if packet.dts is None:  # the flush packet
                    continue
                packet.pts += offset
                packet.dts += offset
                if packet.is_keyframe and packet.pts >= cut:
                    break
                end = max(end, packet.pts + (packet.duration or 0))
                packet.stream = stream_out
                out.mux(packet)
            else:
                offset = end
                continue
            break
    tmp.replace(target)
    return target


def match_detections(reference: Path, candidate: Path, iou_min: float) -> dict:
    """Boxes matched one to one per frame (Hungarian on IoU), counted where IoU >= iou_min."""
    from scipy.optimize import linear_sum_assignment

    from screentime.vision.boxes import iou_matrix

    ref, cand = np.load(reference), np.load(candidate)
    matched, ious = 0, []
    for frame in np.union1d(ref["frame"], cand["frame"]):
        a, b = ref["box"][ref["frame"] == frame], cand["box"][cand["frame"] == frame]
        if not len(a) or not len(b):
            continue
        iou = iou_matrix(a, b)
        rows, cols = linear_sum_assignment(-iou)
        good = iou[rows, cols] >= iou_min
        matched += int(good.sum())
        ious.extend(iou[rows, cols][good].tolist())
    n_ref, n_cand = len(ref["frame"]), len(cand["frame"])
    return {
        "reference": n_ref,
        "candidate": n_cand,
        "matched": matched,
        "of_reference": matched / n_ref if n_ref else 1.0,
        "of_candidate": matched / n_cand if n_cand else 1.0,
        "median_iou": float(np.median(ious)) if ious else 0.0,
    }


def machine(device: str) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        names = [
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    text = f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"
    if device.startswith("cuda"):
        import torch

        props = torch.cuda.get_device_properties(torch.device(device))
        text = f"{props.name} ({props.total_memory / 2**30:.0f} GiB), " + text
    return text


def _mib(value: int | None) -> str:
    return "" if value is None else f"{value / 2**20:,.0f} MiB"


def report(device: str, clip: Path, check: Path, result: dict) -> str:
    single, many, compare = result["single"], result["many"], result["compare"]
    passes_ = result["passes"]
    lines = [
        f"Device: **{device}** ({result['machine']}). Episodes: {clip.name} ({single['frames']} frames of "
        f"1280x720: group_shots.mp4 looped, packets copied), default options (every frame, det_size {DET_SIZE}, "
        f"crops written), timed after each process loaded its model. Passes and comparison: {check.name} "
        f"({passes_['detector']['frames']} frames).",
        "",
    ]
    lines += ["| stage | decoder | frames/s | ms/frame |", "|---|---|---|---|"]
    for row in passes_["decode"]:
        lines.append(
            f"| decode only (BGR + det_size copy) | {row['decoder']} | {row['fps']:,.0f} | {1000 / row['fps']:.2f} |"
        )
    det = passes_["detector"]
    lines.append(
        f"| detector only (RetinaFace at det_size, batch {det['batch']}) | | {det['fps']:,.0f} | "
        f"{1000 / det['fps']:.2f} |"
    )
    whole = single["frames"] / single["seconds"]
    decode_ms, infer_ms, whole_ms = 1000 / passes_["decode"][0]["fps"], 1000 / det["fps"], 1000 / whole
    lines.append(f"| whole episode (analyze_episode) | {single['decoder']} | {whole:,.0f} | {whole_ms:.2f} |")
    lines.append(
        f"| the rest: whole - max(decode, detector), they overlap | | | {whole_ms - max(decode_ms, infer_ms):.2f} |"
    )
    lines += [
        "",
        "| episodes at once | frames/s per episode | frames/s summed | wall s | GPU memory peak "
        "(all processes) | torch peak per process |",
        "|---|---|---|---|---|---|",
    ]
    for runs, memory in ((result["single_runs"], result["single_memory"]), (many, result["many_memory"])):
        wall = max(r["end"] for r in runs) - min(r["start"] for r in runs)
        per = ", ".join(f"{r['frames'] / r['seconds']:,.0f}" for r in runs)
        summed = sum(r["frames"] for r in runs) / wall
        torch_peak = max((r["torch_peak_bytes"] or 0) for r in runs) or None
        lines.append(
            f"| {len(runs)} | {per} | {summed:,.0f} | {wall:.1f} | "
            f"{_mib(memory) if device != 'cpu' else 'n/a (CPU)'} | {_mib(torch_peak) or 'n/a (CPU)'} |"
        )
    verdict = "EQUAL within tolerance" if result["equal"] else "DIFFERENT"
    lines += [
        "",
        f"Detections, {compare['candidate_path']} against {compare['reference_path']} "
        f"({check.name}; boxes matched one to one per frame, IoU >= {compare['iou']}; tolerance: "
        f">= {compare['min_match']:.0%} matched both ways): **{verdict}**",
        "",
        "| reference boxes | candidate boxes | matched | of reference | of candidate | median IoU |",
        "|---|---|---|---|---|---|",
        f"| {compare['reference']} | {compare['candidate']} | {compare['matched']} | "
        f"{compare['of_reference']:.2%} | {compare['of_candidate']:.2%} | {compare['median_iou']:.3f} |",
    ]
    lines += ["", f"Whole check: {result['seconds']:.0f} s."]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    parser.add_argument(
        "--seconds",
        type=float,
        default=0,
        help="length of the episodes (group_shots.mp4, 21 s, looped); 0 = 9 on the CPU, 240 on CUDA",
    )
    parser.add_argument("--episodes", type=int, default=4, help="episodes at once (separate processes)")
    parser.add_argument("--iou", type=float, default=0.5, help="IoU at which two boxes are the same face")
    parser.add_argument(
        "--min-match",
        type=float,
        default=0.98,
        help="share of boxes that must match, both ways, for the paths to be equal",
    )
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, *rest = args.worker
        if kind == "passes":
            print(json.dumps(passes(*rest)))
        else:
            clip, device, decoder, out, *flags = rest
            every = next((int(f.removeprefix("every=")) for f in flags if f.startswith("every=")), 0)
            print(json.dumps(episode(clip, device, decoder, out, "wait" in flags, every)), flush=True)
        return 0

    from screentime.vision.devices import resolve_device

    started = time.monotonic()
    device = resolve_device(args.device)
    seconds = args.seconds or (240 if device.startswith("cuda") else 9)
    clip = clip_of(seconds)
    check = clip_of(min(seconds, 21))  # the decode and detector passes and the comparison run on this
    print(f"gpu_check: device {device}; {machine(device)}", flush=True)
    result = {"machine": machine(device)}
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        folder = Path(tmp)
        print("gpu_check: decode-only and detector-only passes", flush=True)
        result["passes"] = _run_worker("passes", str(check), device)
        # The paths compared: on CUDA, the CUDA path against the CPU path; on the CPU, torchcodec
        # against the default CPU decoder.
        if device.startswith("cuda"):
            reference, candidate = ("cpu", "auto"), (device, "auto")
        else:
            reference, candidate = ("cpu", "auto"), ("cpu", "torchcodec")
        print(f"gpu_check: detections of {candidate} against {reference}", flush=True)
        # Both detect the same frames: on CUDA a run detects every frame (full_detect_every auto = 1),
        # so the CPU reference does too, rather than following faces between full passes.
        same_frames = ["every=1"] if device.startswith("cuda") else []
        ref = _run_worker("episode", str(check), *reference, str(_mkdir(folder / "ref")), *same_frames)
        cand = _run_worker("episode", str(check), *candidate, str(_mkdir(folder / "cand")))
        result["compare"] = match_detections(
            Path(ref["out"]) / "detections.npz", Path(cand["out"]) / "detections.npz", args.iou
        )
        result["compare"].update(
            iou=args.iou,
            min_match=args.min_match,
            reference_path=ref["decoder"] + " + the detector on cpu",
            candidate_path=cand["decoder"] + f" + the detector on {candidate[0]}",
        )
        result["equal"] = min(result["compare"]["of_reference"], result["compare"]["of_candidate"]) >= args.min_match
        print("gpu_check: one episode", flush=True)
        if clip == check and reference == (device, "auto"):  # the reference run was this run
            result["single_runs"], result["single_memory"] = [ref], 0
        else:
            with GpuMemory(device) as memory:
                result["single_runs"] = run_episodes(clip, device, "auto", 1, folder / "one")
            result["single_memory"] = memory.peak
        result["single"] = result["single_runs"][0]
        print(f"gpu_check: {args.episodes} episodes at once", flush=True)
        with GpuMemory(device) as memory:
            result["many"] = run_episodes(clip, device, "auto", args.episodes, folder / "many")
        result["many_memory"] = memory.peak
    result["seconds"] = time.monotonic() - started
    text = report(device, clip, check, result)
    print()
    print(text)
    if not args.no_write:
        write_section(SECTION, text)
    return 0 if result["equal"] else 1


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


if __name__ == "__main__":
    raise SystemExit(main())
