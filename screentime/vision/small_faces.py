"""When to detect at a larger input than `det_size`: shots whose faces are too small for it.

Scaling a 1280x720 frame to a 640 px detector input makes every face half as big. RetinaFace's
smallest anchors are 16 px, so faces under about 30 px in the source (a wide shot of a group, a
crowd, a pan across a table) fall under what the detector sees at 640 and are lost: 42% of them on
a pan over 24-27 px faces. Detecting every frame at full size keeps them, at a quarter of the speed.

The policy here gets both, shot by shot, from what the detector itself reports:

- the first frame of every shot is a *probe*: detected at the fine (larger) input, so faces too
  small to show up at all at `det_size` are seen;
- a shot goes fine when its probe, or any coarse frame, finds a face smaller than `small_face_px`
  at the `det_size` scale (RetinaFace finds 98% of 20-22 px faces at its input but 58% of 12-14 px
  ones); it stays fine until the next cut, or until a fine frame has faces and all of them are
  comfortably large (`1.5 x small_face_px` at the `det_size` scale). A face's size is the
  geometric mean of its box's width and height;
- a probe that finds no faces, or only large ones, leaves the shot coarse.

Measured (bench/bench_small_faces.py, docs/performance.md "Small faces"): probing every 4 s within
long shots as well as at cuts found no more faces on either bench clip, so there are no timed
probes.

The policy is plain state over face sizes, so tests drive it without a detector; `detect_frames`
runs a batch through it (cut at shot starts, so a probe's answer applies to the rest of its batch).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from screentime.vision.boxes import FaceBoxes
from screentime.vision.video import SampledFrame

# The fine input's longest side never exceeds this: full size for HD, a 1920 px input for 4K and 8K
# (whose faces are 2-4x bigger in pixels at the same framing), so memory and time stay bounded.
FINE_MAX_SIDE = 1920
LEAVE_FINE_FACTOR = 1.5  # hysteresis: leave fine detection only when every face is this much bigger


def fine_size(width: int, height: int, det_size: int) -> int:
    """The longest side of the fine detector input for frames of this size (0 = the source size).

    Equal to `det_size` when there is nothing finer to go to (det_size 0, or already that big)."""
    longest = max(width, height)
    if det_size <= 0 or det_size >= longest:
        return det_size
    return 0 if longest <= FINE_MAX_SIDE else max(det_size, FINE_MAX_SIDE)


@dataclass
class SmallFacePolicy:
    """Shot by shot: coarse (`det_size`) or fine detection. See the module docstring."""

    coarse_scale: float  # source -> det_size input
    small_face_px: float  # at the coarse scale; 0 turns the policy off (always coarse)
    fine: bool = False  # the current shot is detected at the fine input
    probes: int = 0

    def __post_init__(self) -> None:
        if not self.enabled:
            self.small_face_px = 0

    @property
    def enabled(self) -> bool:
        return self.small_face_px > 0 and self.coarse_scale < 1.0

    def start_shot(self) -> bool:
        """A shot starts: forget the last one. True when its first frame should be probed (fine)."""
        self.fine = False
        self.probes += int(self.enabled)
        return self.enabled

    def observe(self, face_sizes_px: np.ndarray, was_fine: bool) -> None:
        """Report one frame's faces (their sizes in source pixels, see `face_sizes`), in frame order."""
        if not self.enabled:
            return
        sizes = np.asarray(face_sizes_px, dtype=np.float32) * self.coarse_scale
        if len(sizes) == 0:
            return  # no faces: nothing learnt (a fine shot stays fine, a coarse one coarse)
        smallest = float(sizes.min())
        if smallest < self.small_face_px:
            self.fine = True
        elif was_fine and smallest >= self.small_face_px * LEAVE_FINE_FACTOR:
            self.fine = False


@dataclass(frozen=True)
class DetectorInputs:
    """How to detect a frame coarse (its det_size copy) and fine (full size, or resized to `fine_wh`)."""

    coarse_scale: float
    fine_scale: float
    fine_wh: tuple[int, int]

    def detect(self, detector, frames: list[SampledFrame], fine: bool, min_score: float) -> list[FaceBoxes]:
        if not fine:
            return detector.detect([f.det_image for f in frames], self.coarse_scale, min_score)
        images = [f.image if f.image.shape[1::-1] == self.fine_wh else
                  cv2.resize(f.image, self.fine_wh, interpolation=cv2.INTER_AREA) for f in frames]
        return detector.detect(images, self.fine_scale, min_score)


def detect_frames(detector, frames: list[SampledFrame], starts_shot: list[bool], policy: SmallFacePolicy,
                  inputs: DetectorInputs, min_score: float) -> tuple[list[FaceBoxes], int]:
    """Detect a batch in frame order, each frame at the input the policy chooses; returns the
    results and how many frames were detected fine.

    The batch is cut at shot starts: a shot's first frame is detected alone at the fine input (the
    probe), the rest of the shot's frames in the batch at whatever the probe decided."""
    results: list[FaceBoxes] = []
    fine_count = 0
    i, count = 0, len(frames)
    while i < count:
        j = next((k for k in range(i + 1, count) if starts_shot[k]), count)  # this segment: i..j-1
        if starts_shot[i] and policy.start_shot():
            probe = inputs.detect(detector, frames[i:i + 1], True, min_score)[0]
            policy.observe(face_sizes(probe), was_fine=True)
            results.append(probe)
            fine_count += 1
            i += 1
        if i < j:
            fine = policy.fine
            for faces in inputs.detect(detector, frames[i:j], fine, min_score):
                policy.observe(face_sizes(faces), was_fine=fine)
                results.append(faces)
            fine_count += (j - i) if fine else 0
        i = j
    return results, fine_count


def face_sizes(faces: FaceBoxes) -> np.ndarray:
    """Each box's size in source pixels: the geometric mean of its width and height (a face box is
    narrower than tall; the detector's anchors are square)."""
    xyxy = faces.xyxy.reshape(-1, 4)
    return np.sqrt(np.clip(xyxy[:, 2] - xyxy[:, 0], 0, None) * np.clip(xyxy[:, 3] - xyxy[:, 1], 0, None))
