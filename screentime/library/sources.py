"""Finding an episode's video: an explicit path, or `<videos root>/<show>/s<SS>e<EE>.<ext>`.

A video (or the videos root) may be a local path or an `s3://bucket/key` URI; decoders need a
local, seekable file, so `local_video` downloads an S3 video to a temporary file for the run.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from screentime.contracts.episode import EpisodeId
from screentime.contracts.errors import VideoError
from screentime.contracts.settings import load_settings


def videos_root() -> str:
    """Where `<show>/s<SS>e<EE>.<ext>` episode videos are found (SCREENTIME_VIDEOS_DIR)."""
    return load_settings().videos_dir


VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".avi", ".m4v", ".webm")


def is_s3_uri(location: str | Path) -> bool:
    return str(location).startswith("s3://")


def default_video_path(ep: EpisodeId, root: str | None = None) -> str | None:
    root = root or videos_root()
    names = [f"{ep.show}/{ep.season_dir}{ep.episode_dir}{ext}" for ext in VIDEO_EXTENSIONS]
    if is_s3_uri(root):
        from screentime.storage.s3 import object_exists

        client = _s3_client()
        found = (f"{root.rstrip('/')}/{name}" for name in names)
        return next((uri for uri in found if object_exists(client, uri)), None)
    return next((str(Path(root) / name) for name in names if (Path(root) / name).is_file()), None)


def resolve_video(ep: EpisodeId, video: str = "") -> str:
    """Where the episode's video is: a local path or an s3:// URI."""
    if video:
        return video if is_s3_uri(video) else str(Path(video).expanduser())
    found = default_video_path(ep)
    if found is None:
        raise VideoError(
            f"no video given for {ep} and none found as {videos_root().rstrip('/')}/{ep.show}/"
            f"{ep.season_dir}{ep.episode_dir}.mp4 (set the run config 'video' or SCREENTIME_VIDEOS_DIR)"
        )
    return found


def require_s3_video(uri: str) -> None:
    """Fail with VideoError unless the s3:// video exists (an up-front check; nothing is fetched)."""
    from screentime.storage.s3 import object_exists, parse_s3_uri

    if not parse_s3_uri(uri)[1] or not object_exists(_s3_client(), uri):
        raise VideoError(f"video not found: {uri}")


@contextmanager
def local_video(location: str) -> Iterator[Path]:
    """A local file for `location`: the path itself, or an S3 video downloaded to a temporary file
    that is removed when the block ends."""
    if not is_s3_uri(location):
        yield Path(location)
        return
    from screentime.storage.s3 import download_file, parse_s3_uri

    bucket, key = parse_s3_uri(location)
    if not key or key.endswith("/"):
        raise VideoError(f"video URI names no object: {location}")
    folder = Path(tempfile.mkdtemp(prefix="screentime-video-"))
    try:
        target = folder / Path(key).name  # keeps the extension, which some demuxers look at
        try:
            download_file(_s3_client(), bucket, key, target)
        except FileNotFoundError as exc:
            raise VideoError(f"video not found: {location}") from exc
        yield target
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _s3_client():
    from screentime.storage.s3 import client_for

    return client_for()  # the same endpoint and credentials as the artifacts
