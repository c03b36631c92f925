"""How many frames may be in flight at once, from their size, so memory is bounded by design.

Three places hold frames during an analysis: the decode queue (full frames, plus the detector's
scaled copies), the detector's batch (its input tensor and activations grow with the input's
pixels), and the JPEG writer's pending exports (full frames when frames are saved). Each gets a
share of one budget, `SCREENTIME_FRAME_MEMORY_MB` (2048 MB by default), counted in bytes at this
episode's frame size, so a 4K or 8K episode, or an option like `--batch-size 256`, cannot take the
machine's memory: the batch is capped (with a warning), the queue holds fewer frames.

When even one frame cannot fit (an 8K episode at `--det-size 0`: its 33-megapixel detector input
alone needs about 3.1 GiB, three times the detector's 1 GiB share), the run is refused up front
with `InvalidOption`, naming the frame size, the det_size, the memory it would need, the largest
det_size that fits and the SCREENTIME_FRAME_MEMORY_MB that would; the CLI and the progress API
check this before Dagster hears of the run (screentime/library/inputs.py), a Dagster run fails
with it before decoding a frame. Why refuse rather than detect such a frame in tiles: one frame
is already the least a run can hold, so only tiles could keep it in the budget, and tiles would
not give a season of 8K what it asked for. RetinaFace's anchors stop at 512 px, so at full 8K size
it breaks close-ups into pieces (cap13 scaled to 8K: one 1,790 px face found at det_size 640 and
1920, four 410-540 px boxes at full size; group_shots: 19-21 faces at 640-4096, 45 boxes at full
size), and tiles would cut faces at their seams as well. A refusal costs seconds and writes
nothing; the fix it names (det_size 4096 or less, or a bigger budget on a machine that has it)
then runs held to its budget. Measured figures: bench/bench_memory.py and bench/RESULTS.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from screentime.contracts.errors import InvalidOption

BUDGET_ENV = "SCREENTIME_FRAME_MEMORY_MB"
DEFAULT_BUDGET_MB = 2048
# The CPU detector's working memory per input pixel (float input tensor + RetinaFace activations in
# onnxruntime): about 45 MB per megapixel at batches of 1-8, nearer 100 at batches of ~100
# (bench/bench_memory.py); the larger figure, so big batches stay within the budget.
DETECTOR_BYTES_PER_PIXEL = 96
# On CUDA the batch is stacked on the host, then copied to pinned memory (RetinaFaceTorch.detect).
GPU_HOST_COPIES = 2
MIN_QUEUE_FRAMES = 2
MIN_PENDING_EXPORTS = 2
MAX_PENDING_EXPORTS = 64
MAX_DET_SIZE = 4096  # RunOptions.det_size's upper limit
MB = 1024 * 1024


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
    """SCREENTIME_FRAME_MEMORY_MB in bytes (the settings model checks it: 256 or more)."""
    from screentime.contracts.settings import load_settings

    return load_settings().frame_memory_mb * MB


@dataclass(frozen=True)
class _Cost:
    """Bytes one frame costs in the detector's batch, and the least a run can hold at all."""

    frame: int  # a decoded frame
    scaled: int  # its det_size copy (0 when det_size is the source size)
    top: tuple[int, int]  # the largest detector input the run may use
    host: int  # host memory per frame in the batch: frame, copies, and on the CPU the detector's work
    work: int  # the detector's working memory for one input of `top`
    least: int  # budget a run of batch 1 needs: `host` within the batch's half, the queue's and exports' minimum

    @classmethod
    def of(cls, width: int, height: int, det: tuple[int, int], largest_input: tuple[int, int] | None,
           on_gpu: bool, save_frames: bool) -> _Cost:
        frame = width * height * 3
        scaled = det[0] * det[1] * 3 if det != (width, height) else 0
        top = max(det, largest_input or det, key=lambda size: size[0] * size[1])
        # A rung above det_size is resized from the full frame, once per frame of the batch.
        fine = top[0] * top[1] * 3 if top not in (det, (width, height)) else 0
        work = top[0] * top[1] * DETECTOR_BYTES_PER_PIXEL
        host = frame + scaled + fine + (GPU_HOST_COPIES * top[0] * top[1] * 3 if on_gpu else work)
        least = max(2 * host, host + MIN_QUEUE_FRAMES * (frame + scaled)
                    + (MIN_PENDING_EXPORTS * frame if save_frames else 0))
        return cls(frame, scaled, top, host, work, least)

    def fits(self, budget: int, detector_budget: int | None) -> bool:
        return self.least <= budget and (detector_budget is None or self.work <= detector_budget)


def plan_frames(width: int, height: int, det_width: int, det_height: int, batch_size: int,
                budget: int, detector_budget: int | None = None, save_frames: bool = False,
                largest_input: tuple[int, int] | None = None) -> FramePlan:
    """Split `budget` bytes: half for the detector's batch (its frames, full size and scaled, the
    copies a larger rung is resized into, and on the CPU the detector's working memory; on a GPU
    that goes to `detector_budget`, e.g. half its free memory), a quarter for the decode queue, a
    quarter for pending JPEG exports.

    `largest_input` is the biggest detector input the run may use (shots with small faces are
    detected at more than det_size): the detector's memory is counted at that size.

    Raises InvalidOption, before any work, when one frame does not fit (see the module docstring)."""
    on_gpu = detector_budget is not None
    det = (det_width, det_height)
    cost = _Cost.of(width, height, det, largest_input, on_gpu, save_frames)
    if not cost.fits(budget, detector_budget):
        raise InvalidOption(_too_big(width, height, det, largest_input, cost, budget, detector_budget, save_frames))
    fits = (budget // 2) // cost.host
    if on_gpu:
        fits = min(detector_budget // cost.work, fits)
    fits = max(1, fits)
    warning = ""
    if batch_size > fits:
        warning = (f"batch_size {batch_size} capped to {fits}: {batch_size} frames of {width}x{height} "
                   f"(detector input {cost.top[0]}x{cost.top[1]}) would need about "
                   f"{batch_size * cost.host / 2**30:.1f} GB ({BUDGET_ENV} is {budget // MB} MB)")
        batch_size = fits
    per_queued = cost.frame + cost.scaled
    queue = max(MIN_QUEUE_FRAMES, min(2 * batch_size, (budget // 4) // per_queued))
    pending = (max(MIN_PENDING_EXPORTS, min(MAX_PENDING_EXPORTS, (budget // 4) // cost.frame))
               if save_frames else MAX_PENDING_EXPORTS)
    return FramePlan(batch_size, queue, pending, warning)


def _det_size_label(width: int, height: int, det: tuple[int, int]) -> str:
    return "det_size 0, the source size" if det == (width, height) else f"det_size {max(det)}"


def _largest_det_size(width: int, height: int, ladder: bool, budget: int, detector_budget: int | None,
                      save_frames: bool) -> int:
    """The largest det_size (a multiple of 32 under the source size) whose frames fit; 0 if none."""
    from screentime.vision.small_faces import DetectorInputs

    for side in range(min(MAX_DET_SIZE, max(width, height) - 1) // 32 * 32, 63, -32):
        inputs = DetectorInputs.for_video(width, height, side)
        cost = _Cost.of(width, height, inputs.sizes[0], inputs.largest if ladder else None,
                        detector_budget is not None, save_frames)
        if cost.fits(budget, detector_budget):
            return side
    return 0


def _too_big(width: int, height: int, det: tuple[int, int], largest_input: tuple[int, int] | None,
             cost: _Cost, budget: int, detector_budget: int | None, save_frames: bool) -> str:
    """One line: what does not fit, what it would need, and the settings that would make it fit."""
    top = f"{cost.top[0]}x{cost.top[1]}"
    if cost.top == det:
        what = f"a {width}x{height} frame detected at {top} ({_det_size_label(width, height, det)})"
    else:
        what = (f"a {width}x{height} frame detected at up to {top} (the small-face ladder's largest input, "
                f"over {_det_size_label(width, height, det)})")
    fixes = []
    side = _largest_det_size(width, height, True, budget, detector_budget, save_frames)
    if side:
        fixes.append(f"use det_size {side} or less")
    elif largest_input is not None or cost.top != det:
        side = _largest_det_size(width, height, False, budget, detector_budget, save_frames)
        if side:
            fixes.append(f"use small_face_px 0 and det_size {side} or less")
    if detector_budget is not None and cost.work > detector_budget:
        return (f"{what} needs about {cost.work / 2**30:.1f} GiB of GPU memory in the detector, over half "
                f"the GPU's free memory ({detector_budget / 2**30:.1f} GiB): "
                f"{' or '.join(fixes) or 'use a smaller det_size'}")
    needed_mb = -(-cost.least // (256 * MB)) * 256  # rounded up to 256 MB
    fixes.append(f"set {BUDGET_ENV} to {needed_mb} or more")
    held = "frame, copies, working memory" if detector_budget is None else "frame and its copies, on the host"
    return (f"{what} needs about {cost.host / 2**30:.1f} GiB in the detector alone ({held}), so a frame memory "
            f"budget of {cost.least / 2**30:.1f} GiB; {BUDGET_ENV} is {budget // MB}: {', or '.join(fixes)}")


def check_frames_fit(width: int, height: int, options, on_gpu: bool = False) -> FramePlan:
    """The plan `analyze_episode` makes for `options` (a RunOptions) on frames of this size, before
    any work: raises InvalidOption when one frame does not fit. On a GPU only the host's share is
    checked (the GPU's free memory is for the machine that runs the job to say, when it starts)."""
    from screentime.vision.small_faces import DetectorInputs, SmallFacePolicy

    inputs = DetectorInputs.for_video(width, height, options.det_size)
    det_width, det_height = inputs.sizes[0]
    ladder = SmallFacePolicy(inputs.scales, options.small_face_px).enabled
    return plan_frames(width, height, det_width, det_height, options.batch_size or (32 if on_gpu else 2),
                       budget_bytes(), detector_budget=(1 << 62) if on_gpu else None,
                       save_frames=options.save_frames, largest_input=inputs.largest if ladder else None)
