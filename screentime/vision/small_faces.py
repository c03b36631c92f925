"""When to detect at a larger input than `det_size`: shots whose faces are too small for it.

Scaling a 1280x720 frame to a 640 px detector input makes every face half as big. RetinaFace's
smallest anchors are 16 px, so faces under about 30 px in the source (a wide shot of a group, a
crowd, a pan across a table) fall under what the detector sees at 640 and are lost: 42% of them on
a pan over 24-27 px faces. Detecting every frame at full size keeps them, at a quarter of the speed.

The policy here gets both, shot by shot, from what the detector itself reports:

- the first batch of every shot is a *probe*: detected at the fine (larger) input, so faces too
  small to show up at all at `det_size` are seen;
- a shot goes fine when its probe, or any coarse batch, finds a face smaller than `small_face_px`
  at the `det_size` scale (RetinaFace finds 98% of 20-22 px faces at its input but 58% of 12-14 px
  ones); it stays fine until the next cut, or until a fine batch finds faces and all of them are
  comfortably large (`1.5 x small_face_px` at the `det_size` scale);
- a probe that finds no faces, or only large ones, leaves the shot coarse.

Measured (bench/bench_small_faces.py, bench/RESULTS.md "Small faces"): probing every few seconds
of a long shot as well found no more faces than the coarse batches' own reports, at a third more
full-size frames, so there are no timed probes.

The policy is plain state over face sizes and times, so tests drive it without a detector; the
analysis loop asks `fine_batch` before each batch and reports back through `observe`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from screentime.vision.boxes import FaceBoxes

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
    """Batch by batch: coarse (`det_size`) or fine detection. See the module docstring."""

    coarse_scale: float  # source -> det_size input
    small_face_px: float  # at the coarse scale; 0 turns the policy off (always coarse)
    fine: bool = False
    probes: int = 0
    fine_batches: int = 0
    batches: int = 0

    @property
    def enabled(self) -> bool:
        return self.small_face_px > 0 and self.coarse_scale < 1.0

    def fine_batch(self, new_shot: bool) -> bool:
        """Whether the next batch (`new_shot`: it starts a shot, or the episode) is detected at the
        fine input."""
        self.batches += 1
        if not self.enabled:
            return False
        if new_shot:
            self.fine = False
            self.probes += 1
        if self.fine or new_shot:
            self.fine_batches += 1
            return True
        return False

    def observe(self, face_sides_px: np.ndarray, was_fine: bool) -> None:
        """Report a batch's faces: the shorter side of each box, in source pixels."""
        if not self.enabled:
            return
        sides = np.asarray(face_sides_px, dtype=np.float32) * self.coarse_scale
        if len(sides) == 0:
            return  # no faces: nothing learnt (a fine shot stays fine, a coarse one coarse)
        smallest = float(sides.min())
        if smallest < self.small_face_px:
            self.fine = True
        elif was_fine and smallest >= self.small_face_px * LEAVE_FINE_FACTOR:
            self.fine = False


def face_sides(results: list[FaceBoxes]) -> np.ndarray:
    """The shorter side, in source pixels, of every box in a batch's results."""
    if not results:
        return np.zeros(0, np.float32)
    xyxy = np.concatenate([faces.xyxy for faces in results]).reshape(-1, 4)
    return np.minimum(xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1])
