"""How many frames may be in flight at once, from their size, so memory is bounded by design.

Three places hold frames during an analysis: the decode queue (full frames, plus the detector's
scaled copies), the detector's batch (its input tensor and activations grow with the input's
pixels), and the JPEG writer's pending exports (full frames when frames are saved). Each gets a
share of one budget, `SCREENTIME_FRAME_MEMORY_MB` (2048 MB by default), counted in bytes at this
episode's frame size, so a 4K or 8K episode, or an option like `--batch-size 256` or
`--det-size 0`, cannot take the machine's memory: the batch is capped (with a warning), the queue
holds fewer frames. Measured figures: bench/bench_memory.py and bench/RESULTS.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from screentime.contracts.errors import InvalidOption

BUDGET_ENV = "SCREENTIME_FRAME_MEMORY_MB"
DEFAULT_BUDGET_MB = 2048
# The CPU detector's working memory per input pixel (float input tensor + RetinaFace activations in
# onnxruntime): about 45 MB per megapixel at batches of 1-8, nearer 100 at batches of ~100
# (bench/bench_memory.py); the larger figure, so big batches stay within the budget.
DETECTOR_BYTES_PER_PIXEL = 96
MIN_QUEUE_FRAMES = 2
MAX_PENDING_EXPORTS = 64


@dataclass(frozen=True)
class FramePlan:
    batch_size: int  # frames per detector call
    queue_frames: int  # decoded frames waiting for the detector
    pending_exports: int  # JPEG writes queued at once
    warning: str = ""  # set when the requested batch had to be capped

    @property
    def capped(self) -> bool:
        return bool(self.warning)


def budget_bytes() -> int:
    raw = os.environ.get(BUDGET_ENV, str(DEFAULT_BUDGET_MB))
    try:
        megabytes = int(raw)
    except ValueError:
        raise InvalidOption(f"{BUDGET_ENV} must be a whole number of megabytes (256 or more), got {raw!r}") from None
    if megabytes < 256:
        raise InvalidOption(f"{BUDGET_ENV} must be a whole number of megabytes (256 or more), got {raw!r}")
    return megabytes * 1024 * 1024


def plan_frames(width: int, height: int, det_width: int, det_height: int, batch_size: int,
                budget: int, detector_budget: int | None = None, save_frames: bool = False,
                largest_input: tuple[int, int] | None = None) -> FramePlan:
    """Split `budget` bytes: half for the detector's batch (its frames, full size and scaled, and on
    the CPU the detector's working memory; on a GPU that goes to `detector_budget`, e.g. half its
    free memory), a quarter for the decode queue, a quarter for pending JPEG exports.

    `largest_input` is the biggest detector input the run may use (shots with small faces are
    detected at more than det_size): the detector's memory is counted at that size."""
    frame = width * height * 3
    scaled = det_width * det_height * 3 if (det_width, det_height) != (width, height) else 0
    det_width, det_height = largest_input or (det_width, det_height)
    work = det_width * det_height * DETECTOR_BYTES_PER_PIXEL
    if detector_budget is None:  # the CPU: frames and the detector's work share host memory
        per_input = frame + scaled + work
        fits, one_too_big = (budget // 2) // per_input, per_input > budget // 2
    else:
        per_input = work
        fits = min(detector_budget // work, (budget // 2) // (frame + scaled))
        one_too_big = work > detector_budget
    fits = max(1, fits)
    warning = ""
    if batch_size > fits:
        warning = (f"batch_size {batch_size} capped to {fits}: {batch_size} frames of {width}x{height} "
                   f"(detector input {det_width}x{det_height}) would need about "
                   f"{batch_size * per_input / 2**30:.1f} GB ({BUDGET_ENV} is {budget // 2**20} MB)")
        batch_size = fits
    if one_too_big:
        warning = (f"{warning}; " if warning else "") + (
            f"one detector input of {det_width}x{det_height} needs about {per_input / 2**30:.1f} GB, over the "
            f"detector's share of {BUDGET_ENV}: use a det_size of 1920 or less for this episode")
    queue = max(MIN_QUEUE_FRAMES, min(2 * batch_size, (budget // 4) // (frame + scaled)))
    pending = max(2, min(MAX_PENDING_EXPORTS, (budget // 4) // frame)) if save_frames else MAX_PENDING_EXPORTS
    return FramePlan(batch_size, queue, pending, warning)
