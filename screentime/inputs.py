"""A run's inputs checked before any work: the CLI and the progress API both call this, so a bad
video or weights file is refused with the same one-line message before Dagster is asked for
anything (no partition added, no run launched, nothing written).
"""

from __future__ import annotations

from pathlib import Path

from screentime.episode import EpisodeId
from screentime.errors import InvalidOption
from screentime.options import RunOptions
from screentime.sources import is_s3_uri, require_s3_video, resolve_video


def check_run_inputs(ep: EpisodeId, video: str, options: RunOptions) -> str:
    """The episode's video location, once it is known to be readable: a local file that opens and
    decodes a frame (returned as an absolute path), or an s3:// object that exists. An empty
    `video` means the episode's file under the videos root. Raises VideoError or InvalidOption.

    The device is not checked here: only the machine that runs the job knows its GPUs.
    """
    from screentime.video import probe_video  # OpenCV, loaded only when a check is made

    location = resolve_video(ep, video)
    if is_s3_uri(location):
        require_s3_video(location)  # the run downloads it; here we only check it is there
    else:
        location = str(Path(location).expanduser().resolve())
        probe_video(location)
    if options.detector == "yolo" and not Path(options.detector_weights).expanduser().is_file():
        raise InvalidOption(f"detector_weights not found: {options.detector_weights}")
    return location
