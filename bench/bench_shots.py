"""Benchmark: Screentime's ShotDetector against PySceneDetect's ContentDetector and AdaptiveDetector.

All see the same frames: those the pipeline keeps (every frame, then every 3rd: frame i when
i % 3 == 0), scaled like the detector's input (640 px on the long side), fed one at a time through
each one's streaming API (`update`, `process_frame`); PySceneDetect's detectors also once more
on frames shrunk to 256 px wide, as its SceneManager does by default (the resize is timed).
Timings are per frame, median, on frames decoded beforehand. A cut found at the first sampled
frame of the new shot is exact; one within a sampling step of it still counts as found.

Clips (tests/media, real footage): group_shots.mp4 (9 hard cuts, pans and zooms), bikes.mp4
(5 hard cuts, a fast pan and cars passing close to the camera), cap13_edit2.mp4 and
carphone_pristine.mp4 (single shots, a talking head: no cut). Then the case that matters for
tracking: a still close-up of one person cut to a close-up of another person from the same photo,
framed the same way (faces found by the pipeline's RetinaFace in group_shots' close shots).

Needs PySceneDetect (`pip install --no-deps scenedetect==0.7.2`; its other requirements are
already installed). Usage: `.venv/bin/python bench/bench_shots.py [--media DIR]`.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from screentime.vision.shots import ShotDetector  # noqa: E402
from screentime.vision.video import FrameReader, probe_video  # noqa: E402

CLIPS = {  # file: the first frame of each new shot
    "group_shots.mp4": [75, 125, 175, 225, 275, 325, 375, 425, 475],
    "bikes.mp4": [30, 76, 137, 187, 242],
    "cap13_edit2.mp4": [],
    "carphone_pristine.mp4": [],
}
DET_SIZE = 640


class Ours:
    name = "screentime ShotDetector"

    def __init__(self, fps: float):
        self.d = ShotDetector()

    def feed(self, index: int, t: float, image: np.ndarray) -> list[int]:
        return [index] if self.d.update(index, t, image) else []

    def finish(self, index: int) -> list[int]:
        return []


class _SceneDetect:
    def __init__(self, fps: float):
        from scenedetect import FrameTimecode

        self._tc = lambda i: FrameTimecode(i, fps)
        self.d = self.make()

    width = 0  # 0: the frame as given; else scaled to this width first, as SceneManager does

    def feed(self, index: int, t: float, image: np.ndarray) -> list[int]:
        if self.width and image.shape[1] > self.width:
            size = (self.width, round(image.shape[0] * self.width / image.shape[1]))
            image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
        return [tc.frame_num for tc in self.d.process_frame(self._tc(index), image)]

    def finish(self, index: int) -> list[int]:
        return [tc.frame_num for tc in self.d.post_process(self._tc(index))]


class Content(_SceneDetect):
    name = "PySceneDetect ContentDetector"

    def make(self):
        from scenedetect.detectors import ContentDetector

        return ContentDetector()  # threshold 27, min_scene_len 15 frames


class Adaptive(_SceneDetect):
    name = "PySceneDetect AdaptiveDetector"

    def make(self):
        from scenedetect.detectors import AdaptiveDetector

        return AdaptiveDetector()  # adaptive_threshold 3, window 2 frames either side, 15 frames


class Content256(Content):
    name = "PySceneDetect ContentDetector, 256 px"
    width = 256  # SceneManager's default downscale (DEFAULT_MIN_WIDTH), included in the time


class Adaptive256(Adaptive):
    name = "PySceneDetect AdaptiveDetector, 256 px"
    width = 256


try:
    import scenedetect  # noqa: F401

    DETECTORS = [Ours, Content, Adaptive, Content256, Adaptive256]
except ImportError:  # measure ours alone
    print("PySceneDetect is not installed: pip install --no-deps scenedetect==0.7.2", file=sys.stderr)
    DETECTORS = [Ours]


def decode(path: Path) -> tuple[float, list]:
    """Every frame as the detector's input, decoded once up front so that timing sees no decoding."""
    info = probe_video(path)
    return info.fps, [(f.index, f.timestamp_s, f.det_image) for f in FrameReader(info, 0, DET_SIZE)]


def run_clip(fps: float, frames: list, step: int) -> dict:
    """Feed the sampled frames to every detector; their cuts, per-frame seconds, and our margins."""
    result = {"frames": 0, "cuts": {}, "seconds": {}, "margins": []}
    sampled = [f for f in frames if f[0] % step == 0]
    result["frames"] = len(sampled)
    for cls in DETECTORS:
        d, cuts, seconds = cls(fps), [], []
        for index, t, image in sampled:
            start = time.perf_counter()
            cuts += d.feed(index, t, image)
            seconds.append(time.perf_counter() - start)
            if isinstance(d, Ours) and index:
                result["margins"].append((index, d.d.score - d.d.level))
        cuts += d.finish(sampled[-1][0])
        result["cuts"][cls.name], result["seconds"][cls.name] = cuts, seconds
    return result


def score(found: list[int], truth: list[int], step: int) -> tuple[int, int, int, int]:
    """(true positives, exact ones, false positives, misses); a cut matches within one step."""
    expected = [c + (-c) % step for c in truth]  # the first sampled frame of each new shot
    left = list(found)
    tp = exact = 0
    for e in expected:
        near = [f for f in left if abs(f - e) <= step]
        if near:
            best = min(near, key=lambda f: abs(f - e))
            left.remove(best)
            tp += 1
            exact += best == e
    return tp, exact, len(left), len(expected) - tp


def closeup_pairs(media: Path) -> tuple[list[np.ndarray], list[int]]:
    """Close-ups (640x360, the face 45 % of the height) of every face in group_shots' close shots."""
    from screentime.vision.detectors import load_detector

    shots = {100: 1, 150: 4, 250: 2, 350: 5, 400: 3, 450: 6}  # a frame of each photo's close shot
    cap = cv2.VideoCapture(str(media / "group_shots.mp4"))
    frames, i = {}, 0
    while cap.grab() and i <= max(shots):
        if i in shots:
            frames[i] = cap.retrieve()[1]
        i += 1
    cap.release()
    detector = load_detector("retinaface", "cpu")
    images, photos = [], []
    for i, image in frames.items():
        for x1, y1, x2, y2 in detector.detect([image], 1.0, 0.6)[0].xyxy:
            vh = (y2 - y1) / 0.45
            vw = vh * 16 / 9
            s = 360 / vh
            m = np.float32([[s, 0, -((x1 + x2) / 2 - vw / 2) * s], [0, s, -((y1 + y2) / 2 - vh / 2) * s]])
            images.append(cv2.warpAffine(image, m, (640, 360), borderMode=cv2.BORDER_REPLICATE))
            photos.append(shots[i])
    return images, photos


def closeup_cuts(images: list[np.ndarray], photos: list[int], fps: float = 25.0) -> dict:
    """For each ordered pair of different people from the same photo: 1 s of A, then 1 s of B."""
    found = {cls.name: 0 for cls in DETECTORS}
    pairs, lowest = 0, 1.0
    n = int(fps)
    for a in range(len(images)):
        for b in range(len(images)):
            if a == b or photos[a] != photos[b]:
                continue
            pairs += 1
            for cls in DETECTORS:
                d = cls(fps)
                cuts = []
                for i in range(2 * n):
                    cuts += d.feed(i, i / fps, images[a] if i < n else images[b])
                    if i == n and isinstance(d, Ours):
                        lowest = min(lowest, d.d.score - d.d.level)
                cuts += d.finish(2 * n - 1)
                found[cls.name] += n in cuts
    return {"pairs": pairs, "found": found, "lowest": lowest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--media", type=Path, default=REPO / "tests" / "media")
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {cv2.getNumThreads()} OpenCV threads; "
          f"frames scaled to {DET_SIZE} px on the long side\n")
    totals: dict[tuple[str, int], list] = {}
    rows, margins = [], {1: [9.0, -9.0], 3: [9.0, -9.0]}
    for clip, truth in CLIPS.items():
        path = args.media / clip
        if not path.exists():
            print(f"(skipped {clip}: not in {args.media})")
            continue
        fps, frames = decode(path)
        for step in (1, 3):
            result = run_clip(fps, frames, step)
            at_cut = {c + (-c) % step for c in truth}
            for index, margin in result["margins"]:
                low_high = margins[step]
                if index in at_cut:
                    low_high[0] = min(low_high[0], margin)
                else:
                    low_high[1] = max(low_high[1], margin)
            for cls in DETECTORS:
                tp, exact, fp, fn = score(result["cuts"][cls.name], truth, step)
                ms = 1000 * float(np.median(result["seconds"][cls.name]))
                rows.append((step, f"| {cls.name} | {clip} | {step} | {len(truth)} | {tp} ({exact} exact) | {fp} | {fn} | {ms:.2f} |"))
                t = totals.setdefault((cls.name, step), [0, 0, 0, []])
                t[0] += tp
                t[1] += fp
                t[2] += fn
                t[3] += result["seconds"][cls.name]
        del frames
    print("| detector | clip | every nth frame | cuts | found | false | missed | ms/frame (median) |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(row for _, row in sorted(rows, key=lambda r: r[0])))
    print("\n| detector | every nth frame | precision | recall | ms/frame (median) | ms/frame (mean) |")
    print("|---|---|---|---|---|---|")
    for (name, step), (tp, fp, fn, seconds) in sorted(totals.items(), key=lambda kv: kv[0][1]):
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        print(f"| {name} | {step} | {precision:.2f} | {recall:.2f} | {1000 * np.median(seconds):.2f} "
              f"| {1000 * np.mean(seconds):.2f} |")
    print("\nShotDetector's score above the motion level (cut when >= its threshold, "
          f"{ShotDetector().threshold}):\n")
    print("| every nth frame | lowest at a cut | highest elsewhere |")
    print("|---|---|---|")
    for step, (low, high) in margins.items():
        print(f"| {step} | {low:.3f} | {high:.3f} |")
    if (args.media / "group_shots.mp4").exists():
        images, photos = closeup_pairs(args.media)
        result = closeup_cuts(images, photos)
        print(f"\nSame-place close-up cuts ({len(images)} faces, {result['pairs']} ordered pairs of two "
              "people from one photo, each still for 1 s, 25 fps):\n")
        print("| detector | cuts found |")
        print("|---|---|")
        for name, found in result["found"].items():
            print(f"| {name} | {found}/{result['pairs']} |")
        print(f"\nShotDetector's lowest score above the motion level at those cuts: {result['lowest']:.3f}")


if __name__ == "__main__":
    main()
