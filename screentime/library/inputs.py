"""A run's inputs checked before any work: the CLI and the progress API both call this, so a bad
video or weights file, or frames too large for the frame memory budget, is refused with the same
one-line message before Dagster is asked for anything (no partition added, no run launched,
nothing written).
"""

from __future__ import annotations

from pathlib import Path

from screentime.contracts.episode import EpisodeId
from screentime.contracts.errors import InvalidOption, VideoError
from screentime.contracts.options import RunOptions
from screentime.library.sources import is_s3_uri, require_s3_video, resolve_video

MAX_LOCATION_LENGTH = 4096  # PATH_MAX on Linux; S3 keys stop at 1024 bytes


def check_run_inputs(ep: EpisodeId, video: str, options: RunOptions) -> str:
    """The episode's video location, once it is known to be readable: a local file that opens and
    decodes a frame (returned as an absolute path), or an s3:// object that exists. An empty
    `video` means the episode's file under the videos root. Also checks the yolo weights file, and
    that one frame of a local video fits SCREENTIME_FRAME_MEMORY_MB at these options
    (screentime/vision/memory.py; the run checks an s3:// video's once it has it).
    Raises VideoError or InvalidOption.

    The device is not checked here: only the machine that runs the job knows its GPUs. The memory
    check counts the detector on the CPU unless the options ask for CUDA, or ask for `auto` on a
    machine with an NVIDIA GPU (then the host's share only; the run checks the GPU's).
    """
    if len(video) > MAX_LOCATION_LENGTH:
        raise VideoError(f"video location is {len(video)} characters long; the limit is {MAX_LOCATION_LENGTH}")
    location, size = _readable_video(ep, video)
    _check_weights(options)
    if size is not None:
        from screentime.vision.memory import check_frames_fit

        check_frames_fit(*size, options, on_gpu=_may_use_gpu(options.device))
    return location


def _may_use_gpu(device: str) -> bool:
    """Whether a run with this device option may detect on CUDA here (without importing torch)."""
    if device.startswith("cuda"):
        return True
    return device == "auto" and (Path("/dev/nvidiactl").exists() or Path("/proc/driver/nvidia/gpus").is_dir())


def _readable_video(ep: EpisodeId, video: str) -> tuple[str, tuple[int, int] | None]:
    """The location, and the frame size of a local video (None for an s3:// one)."""
    from screentime.vision.video import probe_video  # OpenCV, loaded only when a check is made

    if is_s3_uri(video):
        require_s3_video(video)  # the run downloads it; here we only check it is there
        return video, None
    try:
        location = resolve_video(ep, video)
        if is_s3_uri(location):  # found under an s3:// videos root
            return location, None
        location = str(Path(location).expanduser().resolve())
        info = probe_video(location)
        return location, (info.width, info.height)
    # A name too long for the file system, no permission, a symlink loop, ~nobody/...
    except (OSError, RuntimeError) as exc:
        raise VideoError(f"cannot read video {video[:300]!r}: {getattr(exc, 'strerror', None) or exc}") from exc


def _check_weights(options: RunOptions) -> None:
    """The yolo detector's weights must be a local file (they are never downloaded)."""
    if options.detector != "yolo":
        return
    try:
        found = Path(options.detector_weights).expanduser().is_file()
    except (OSError, RuntimeError):
        found = False
    if not found:
        raise InvalidOption(f"detector_weights not found: {options.detector_weights[:300]}")
