"""Finding an episode's video: an explicit path, or `<videos root>/<show>/s<SS>e<EE>.<ext>`."""

from __future__ import annotations

from pathlib import Path

from screentime.episode import EpisodeId
from screentime.errors import VideoError
from screentime.settings import videos_root

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".avi", ".m4v", ".webm")


def default_video_path(ep: EpisodeId, root: str | None = None) -> Path | None:
    folder = Path(root or videos_root()) / ep.show
    for ext in VIDEO_EXTENSIONS:
        candidate = folder / f"{ep.season_dir}{ep.episode_dir}{ext}"
        if candidate.is_file():
            return candidate
    return None


def resolve_video(ep: EpisodeId, video: str = "") -> Path:
    if video:
        return Path(video).expanduser()
    found = default_video_path(ep)
    if found is None:
        raise VideoError(
            f"no video given for {ep} and none found as {Path(videos_root()) / ep.show}/"
            f"{ep.season_dir}{ep.episode_dir}.mp4 (set the run config 'video' or SCREENTIME_VIDEOS_DIR)"
        )
    return found
