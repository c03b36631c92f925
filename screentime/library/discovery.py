"""Finding episodes in a videos root: `<root>/<show>/s<SS>e<EE>.<ext>`, a local folder or S3 prefix.

A scan returns the episodes found (id, location, size, modification time) and, separately, every
video file that does not follow the layout, with the reason, so callers report bad names instead
of failing on them. Ids go through `parse_episode_id`, the one parser every entry point uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from screentime.contracts.episode import EpisodeId, parse_episode_id
from screentime.contracts.errors import InvalidEpisodeId, ScreentimeError
from screentime.contracts.manifest import Manifest
from screentime.contracts.settings import load_settings
from screentime.library.sources import VIDEO_EXTENSIONS

LAYOUT = "<show>/s<SS>e<EE>.<ext>"
VIDEOS_DIR_ENV = "SCREENTIME_VIDEOS_DIR"
NOT_WATCHING = (f"not watching any folder: {VIDEOS_DIR_ENV} is not set. Set it to your videos root "
                f"({LAYOUT}) for new episodes to be analysed by themselves; the default ./videos, where "
                "`screentime demo` keeps its samples, is never watched")


def watched_root() -> str | None:
    """The videos root the discovery sensor watches: only one named by SCREENTIME_VIDEOS_DIR.

    Runs with no video given still look in the default ./videos, but the sensor does not watch it:
    `dagster dev` started from the repo would otherwise analyse the demo's videos into whatever
    data folder the environment names, unasked (issue 22)."""
    settings = load_settings()
    named = "videos_dir" in settings.model_fields_set and settings.videos_dir.strip()
    return settings.videos_dir if named else None


@dataclass(frozen=True)
class VideoFile:
    """One file under a videos root, as listed: path relative to the root, size, mtime."""

    relative: str
    location: str  # local path or s3:// URI
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class EpisodeVideo:
    ep: EpisodeId
    location: str
    size: int
    mtime_ns: int

    @property
    def fingerprint(self) -> str:
        """Changes when the file is replaced: the sensor's run key and cursor compare it."""
        return fingerprint(self.size, self.mtime_ns)


def fingerprint(size: int, mtime_ns: int) -> str:
    return f"{size}-{mtime_ns}"


def _s3_mtime_ns(obj: dict) -> int:
    return int(obj["LastModified"].timestamp()) * 1_000_000_000  # S3 listings have whole seconds


def video_fingerprint(location: str) -> str:
    """The fingerprint a scan gives the video at `location` (a path or s3:// URI); '' when absent."""
    found = _stat_video(location)
    return "" if found is None else fingerprint(*found)


def video_at(ep: EpisodeId, location: str) -> EpisodeVideo | None:
    """The episode's video at `location` as a scan would list it (size, mtime); None when absent."""
    found = _stat_video(location)
    return None if found is None else EpisodeVideo(ep, location, *found)


def _stat_video(location: str) -> tuple[int, int] | None:
    """(size, mtime in ns) of a video file or s3:// object; None when it is absent."""
    if location.startswith("s3://"):
        from screentime.storage.s3 import client_for, iter_objects, parse_s3_uri

        bucket, key = parse_s3_uri(location)
        client = client_for()
        found = next((obj for obj in iter_objects(client, bucket, key) if obj["Key"] == key), None)
        return None if found is None else (int(found["Size"]), _s3_mtime_ns(found))
    try:
        stat = Path(location).expanduser().stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


@dataclass(frozen=True)
class Rejected:
    location: str
    reason: str

    def __str__(self) -> str:
        return f"{self.location}: {self.reason}"


@dataclass
class Scan:
    root: str
    episodes: list[EpisodeVideo] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def is_processed(video: EpisodeVideo, manifest: Manifest | None) -> bool:
    """An episode whose manifest was written after its video file last changed needs no new run."""
    if manifest is None or not manifest.created_at:
        return False
    created = datetime.fromisoformat(manifest.created_at.replace("Z", "+00:00"))
    return created.timestamp() * 1_000_000_000 >= video.mtime_ns


def is_video_name(name: str) -> bool:
    return Path(name).suffix.lower() in VIDEO_EXTENSIONS


def episode_for(relative: str) -> EpisodeId:
    """The episode a root-relative path names (`the-office/s02e07.mp4`), or InvalidEpisodeId."""
    parts = relative.split("/")
    if len(parts) != 2:
        raise InvalidEpisodeId(f"not laid out as {LAYOUT} (one folder per show, files directly in it)")
    show, name = parts
    stem, suffix = name.rsplit(".", 1)[0], Path(name).suffix
    if suffix not in VIDEO_EXTENSIONS:
        raise InvalidEpisodeId(f"extension {suffix!r} is not one of {', '.join(VIDEO_EXTENSIONS)}")
    try:
        return parse_episode_id(f"{show}-{stem}")
    except InvalidEpisodeId as exc:
        raise InvalidEpisodeId(f"not named {LAYOUT}, e.g. the-office/s02e07.mp4 ({exc})") from exc


def classify(root: str, files: Iterable[VideoFile]) -> Scan:
    """Sort listed files into episodes and rejected names; non-video files are ignored.

    When one episode exists with two extensions, the one `default_video_path` would pick (the
    first in VIDEO_EXTENSIONS order) wins and the other is reported, so runs and scans agree.
    """
    scan = Scan(root)
    found: dict[EpisodeId, list[VideoFile]] = {}
    for file in files:
        if not is_video_name(file.relative):
            continue
        try:
            found.setdefault(episode_for(file.relative), []).append(file)
        except InvalidEpisodeId as exc:
            scan.rejected.append(Rejected(file.location, str(exc)))
    for ep in sorted(found):
        keep, *others = sorted(found[ep], key=lambda f: VIDEO_EXTENSIONS.index(Path(f.relative).suffix))
        scan.episodes.append(EpisodeVideo(ep, keep.location, keep.size, keep.mtime_ns))
        scan.rejected += [Rejected(other.location, f"duplicate of {keep.location}") for other in others]
    return scan


def list_local(root: Path) -> Iterator[VideoFile]:
    """Every non-hidden file under a local folder (hidden files and folders are skipped)."""
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if any(part.startswith(".") for part in relative.split("/")) or not path.is_file():
            continue
        stat = path.stat()
        yield VideoFile(relative, str(path), stat.st_size, stat.st_mtime_ns)


def list_s3(uri: str) -> Iterator[VideoFile]:
    """Every object under an `s3://bucket/prefix` videos root (client settings from the env)."""
    from screentime.storage.s3 import client_for, iter_objects, parse_s3_uri

    bucket, prefix = parse_s3_uri(uri.rstrip("/") + "/")
    client = client_for()
    for obj in iter_objects(client, bucket, prefix):
        relative = obj["Key"][len(prefix):]
        if any(part.startswith(".") for part in relative.split("/")):
            continue
        yield VideoFile(relative, f"s3://{bucket}/{obj['Key']}", int(obj["Size"]), _s3_mtime_ns(obj))


def scan_videos(root: str) -> Scan:
    """Scan a videos root (a local folder, or `s3://bucket/prefix`) for episode videos."""
    if root.startswith("s3://"):
        return classify(root, list_s3(root))
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise ScreentimeError(f"videos root {folder} is not a folder (SCREENTIME_VIDEOS_DIR)")
    return classify(root, list_local(folder))


def scan_paths(paths: Iterable[str]) -> Scan:
    """Episodes named by video files (`.../<show>/s<SS>e<EE>.<ext>`) or found in folders: a videos
    root (`<folder>/<show>/s<SS>e<EE>.<ext>`) or a show folder (`<show>/s<SS>e<EE>.<ext>`).
    Missing paths are rejected like bad names."""
    paths = list(paths)
    files: list[VideoFile] = []
    scan = Scan(", ".join(paths))
    for given in paths:
        path = Path(given).expanduser().resolve()
        if path.is_dir():
            for file in list_local(path):
                in_show_folder = "/" not in file.relative  # the folder itself is the show's
                files.append(replace(file, relative=f"{path.name}/{file.relative}") if in_show_folder else file)
        elif path.is_file():
            stat = path.stat()
            files.append(VideoFile(f"{path.parent.name}/{path.name}", str(path), stat.st_size, stat.st_mtime_ns))
        else:
            scan.rejected.append(Rejected(given, "no such file or folder"))
    found = classify(scan.root, {file.location: file for file in files}.values())  # once each
    return Scan(scan.root, found.episodes, scan.rejected + found.rejected)
