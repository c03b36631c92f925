"""A show's people as the review and Screentime pages show them.

The people, their names and which track parts are theirs come from the registry as it is now
(so an edit shows at once); the seconds come from the show's last screen-time table, which
Dagster recounts after each edit (`numbers_version` says which registry version they are from).
Each episode's track parts and crops are read once per analysis run and kept: a run's tables
never change, so a page of a few hundred people reads no Parquet file twice.
"""

from __future__ import annotations

import threading
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from screentime.analysis.publish import read_manifest
from screentime.contracts.episode import parse_episode_id
from screentime.contracts.layout import EpisodeLayout, ShowLayout
from screentime.contracts.people import EpisodeLinks, PeopleRegistry, part_of, track_key, track_pieces
from screentime.contracts.review import (
    CropRef,
    PeopleView,
    PersonTracks,
    PersonView,
    ScreentimeRow,
    ScreentimeView,
    Target,
    TrackCrops,
    TrackView,
)
from screentime.contracts.tables import CROPS_SCHEMA
from screentime.identity.registry import load_registry
from screentime.identity.screen_time import FrameSeconds
from screentime.identity.show import REGISTRY_VERSION_METADATA, SHOW_SCREENTIME_SCHEMA
from screentime.library.sources import VIDEO_EXTENSIONS, is_s3_uri
from screentime.storage.base import Storage
from screentime.storage.parquet import table_from_parquet

CROPS_PER_TRACK = 6
TRACKS_PER_PERSON = 60  # a person's card lists this many track parts (longest first); the rest are counted
CACHED_RUNS = 512
CACHED_PIECES = 4096
CUT_CROPS = 120  # the crops a split chooser offers at most, spread over the track in time order
NamedFilter = Literal["all", "named", "unnamed"]


@dataclass(frozen=True)
class Moment:
    """Where a crop is in its episode: the time, the face's box in the frame, whether the frame was saved."""

    timestamp_s: float
    box: tuple[int, int, int, int]
    frame: bool


@dataclass
class TrackPart:
    seconds: float
    start_s: float
    end_s: float
    crops: list[tuple[float, int]] = field(default_factory=list)  # (score, frame_index), best first
    moments: dict[int, Moment] = field(default_factory=dict)  # frame_index -> where that crop is
    first_frame: int = 0  # the analysed frames the part (or piece) spans, inclusive
    last_frame: int = 0


@dataclass
class EpisodeTracks:
    run_id: str
    parts: dict[str, TrackPart]
    source: str | None = None  # the run's source video as its manifest names it (a path or an s3:// URI)


class RunTables:
    """One analysis run's detections, crops and frames as arrays: what a track part's (or a piece's)
    seconds, span and crops are read from."""

    def __init__(self, storage: Storage, ep_id: str, run_id: str):
        """FileNotFoundError when the run's people or detections table is gone (the run was replaced)."""
        layout = EpisodeLayout(parse_episode_id(ep_id))
        manifest = read_manifest(storage, layout.ep)
        this_run = manifest is not None and manifest.run_id == run_id
        self.run_id = run_id
        self.source = manifest.source.path if this_run else None
        self.people = table_from_parquet(storage.get_bytes(layout.table_key(run_id, "people")))
        detections = table_from_parquet(storage.get_bytes(layout.table_key(run_id, "detections")))
        try:
            crops = table_from_parquet(storage.get_bytes(layout.table_key(run_id, "crops")))
        except FileNotFoundError:
            crops = CROPS_SCHEMA.empty_table()
        try:
            frames = table_from_parquet(storage.get_bytes(layout.table_key(run_id, "frames")))
        except FileNotFoundError:
            frames = None
        self.det_tracks = detections["track_id"].to_numpy()
        self.det_frames = detections["frame_index"].to_numpy()
        self.det_times = detections["timestamp_s"].to_numpy()
        self.crop_tracks = crops["track_id"].to_numpy()
        self.crop_frames = crops["frame_index"].to_numpy()
        self.crop_scores = crops["score"].to_numpy()
        self.crop_times = crops["timestamp_s"].to_numpy()
        self.crop_boxes = np.stack([crops[c].to_numpy() for c in ("x1", "y1", "x2", "y2")], axis=1)
        self.frame_seconds = FrameSeconds(frames, manifest.analysis_fps if this_run else 0.0)
        self.saved_frames = _saved_frames(frames)

    def spans(self) -> dict[str, tuple[int, int, int]]:
        """track_key -> (track_id, first frame, last frame) of every track part of the run."""
        return {track_key(r["track_id"], r["part"]): (r["track_id"], r["first_frame"], r["last_frame"])
                for r in self.people.select(["track_id", "part", "first_frame", "last_frame"]).to_pylist()}

    def crop_rows(self, track: int, first: int, last: int) -> np.ndarray:
        """Indexes of the track's crops from frame `first` to `last` (inclusive), in frame order."""
        mine = np.flatnonzero((self.crop_tracks == track) & (self.crop_frames >= first) & (self.crop_frames <= last))
        return mine[np.argsort(self.crop_frames[mine], kind="stable")]

    def moment(self, row: int) -> Moment:
        return Moment(round(float(self.crop_times[row]), 3), tuple(int(v) for v in self.crop_boxes[row]),
                      int(self.crop_frames[row]) in self.saved_frames)

    def part(self, track: int, first: int, last: int) -> TrackPart:
        """A track's frames `first` to `last` (a part, or a reviewer's piece of one): seconds on
        screen (as the show's recount counts them), span, its best crops spread over its time."""
        hit = (self.det_tracks == track) & (self.det_frames >= first) & (self.det_frames <= last)
        times = self.det_times[hit]
        mine = self.crop_rows(track, first, last)
        best = sorted(((float(self.crop_scores[i]), int(self.crop_frames[i])) for i in mine), reverse=True)
        shown = _spread(best, CROPS_PER_TRACK)
        at = {int(self.crop_frames[i]): i for i in mine}
        return TrackPart(
            seconds=round(self.frame_seconds.of(self.det_frames[hit]), 3),
            start_s=round(float(times.min()), 3) if times.size else 0.0,
            end_s=round(float(times.max()), 3) if times.size else 0.0,
            crops=shown, moments={frame: self.moment(at[frame]) for _, frame in shown},
            first_frame=int(first), last_frame=int(last),
        )


def read_episode_tracks(storage: Storage, ep_id: str, run_id: str) -> EpisodeTracks:
    """Every track part of one analysis run: seconds on screen, span, its best crops."""
    try:
        run = RunTables(storage, ep_id, run_id)
    except FileNotFoundError:
        return EpisodeTracks(run_id, {})  # the run was replaced since it was linked: the next link catches up
    parts = {key: run.part(track, first, last) for key, (track, first, last) in run.spans().items()}
    return EpisodeTracks(run_id, parts, run.source)


def _saved_frames(frames: pa.Table | None) -> set[int]:
    """The frame indexes whose whole frame was saved as a JPEG (the run's --save-frames)."""
    if frames is None or "path" not in frames.column_names:
        return set()
    saved = frames.filter(pc.is_valid(frames["path"]))
    return set(saved["frame_index"].to_pylist())


def playable(source: str | None) -> str | None:
    """How GET /episodes/{ep}/video serves a source: 'file' (a local video that exists), 's3', or None."""
    if not source or Path(source.split("?")[0]).suffix.lower() not in VIDEO_EXTENSIONS:
        return None
    if is_s3_uri(source):
        return "s3"
    return "file" if Path(source).is_file() else None


def _spread(best: list[tuple[float, int]], n: int) -> list[tuple[float, int]]:
    """The best crop first, then up to n-1 more spread over the part's time (a strip, not n near-duplicates)."""
    if len(best) <= n:
        return best
    rest = sorted(best[1:], key=lambda c: c[1])
    picks = [rest[round(i * (len(rest) - 1) / (n - 2))] for i in range(n - 1)] if n > 2 else rest[:1]
    return [best[0], *dict.fromkeys(picks)]


@dataclass
class ShowNumbers:
    """The show's last screen-time table: rows and the registry version it was counted at."""

    version: int | None
    rows: list[dict]


def read_show_numbers(storage: Storage, show: str) -> ShowNumbers:
    try:
        table = table_from_parquet(storage.get_bytes(ShowLayout(show).screentime_key))
    except FileNotFoundError:
        return ShowNumbers(None, [])
    return ShowNumbers(counted_version(table), table.to_pylist())


def counted_version(table: pa.Table) -> int | None:
    """The registry version a show table was counted at (its Parquet metadata); None if unsaid."""
    version = (table.schema.metadata or {}).get(REGISTRY_VERSION_METADATA)
    return int(version) if version is not None else None


class ReviewReader:
    """Builds the pages' views from storage; caches each analysis run's track parts (thread-safe)."""

    def __init__(self, storage: Storage):
        self.storage = storage
        self._runs: OrderedDict[tuple[str, str], EpisodeTracks] = OrderedDict()
        self._pieces: OrderedDict[tuple[str, str, str, int, int], TrackPart] = OrderedDict()
        self._lock = threading.Lock()

    def episode_tracks(self, ep_id: str, run_id: str) -> EpisodeTracks:
        key = (ep_id, run_id)
        with self._lock:
            if key in self._runs:
                self._runs.move_to_end(key)
                return self._runs[key]
        tracks = read_episode_tracks(self.storage, ep_id, run_id)
        with self._lock:
            if tracks.parts:  # an empty read (a run being replaced) is not kept
                self._runs[key] = tracks
                while len(self._runs) > CACHED_RUNS:
                    self._runs.popitem(last=False)
        return tracks

    def pieces(self, ep_id: str, run_id: str, links: EpisodeLinks, parts: dict[str, TrackPart]
               ) -> dict[str, dict[str, TrackPart]]:
        """track_key -> its pieces (piece key -> its frames as a TrackPart) for each part a reviewer cut
        (SplitTrack); the run's tables are read again only for pieces not seen before."""
        wanted = {}
        for part, cuts in links.track_cuts.items():
            whole = parts.get(part)
            if whole is not None:
                wanted[part] = track_pieces(part, whole.first_frame, whole.last_frame, cuts)
        out: dict[str, dict[str, TrackPart]] = {}
        missing = []
        with self._lock:
            for part, pieces in wanted.items():
                for key, first, last in pieces:
                    found = self._pieces.get((ep_id, run_id, key, first, last))
                    if found is None:
                        missing.append((part, key, first, last))
                    else:
                        self._pieces.move_to_end((ep_id, run_id, key, first, last))
                        out.setdefault(part, {})[key] = found
        if missing:
            try:
                run = RunTables(self.storage, ep_id, run_id)
            except FileNotFoundError:
                return {}
            for part, key, first, last in missing:
                piece = run.part(int(part.split(".")[0]), first, last)
                out.setdefault(part, {})[key] = piece
                with self._lock:
                    self._pieces[(ep_id, run_id, key, first, last)] = piece
                    while len(self._pieces) > CACHED_PIECES:
                        self._pieces.popitem(last=False)
        return {part: dict(sorted(found.items(), key=lambda kv: kv[1].first_frame)) for part, found in out.items()}

    def track_crops(self, show: str, ep_id: str, track: str, limit: int = CUT_CROPS) -> TrackCrops:
        """A track part's (or piece's) crops in time order, spread over it (at most `limit`): where a
        reviewer picks the frame the face changes at. KeyError when the show has no such track."""
        registry = load_registry(self.storage, show)
        links = registry.episodes.get(ep_id)
        if links is None:
            raise KeyError(f"{ep_id} has no people in {show}'s registry (yet)")
        try:
            run = RunTables(self.storage, ep_id, links.run_id)
        except FileNotFoundError as exc:
            raise KeyError(f"the tables of {ep_id}'s analysis run {links.run_id} are gone") from exc
        part = part_of(track)
        span = run.spans().get(part)
        piece = span and next((p for p in track_pieces(part, span[1], span[2], links.track_cuts.get(part))
                               if p[0] == track), None)
        if piece is None:
            raise KeyError(f"{ep_id} has no track {track}")
        rows = run.crop_rows(span[0], piece[1], piece[2])
        if len(rows) > limit:
            rows = rows[np.unique(np.round(np.linspace(0, len(rows) - 1, limit)).astype(int))]
        crops = [_crop(ep_id, run.run_id, span[0], int(run.crop_frames[i]), run.moment(i)) for i in rows]
        return TrackCrops(show=show, ep_id=ep_id, track=track, version=registry.version, first_frame=piece[1],
                          last_frame=piece[2], total=len(run.crop_rows(span[0], piece[1], piece[2])), crops=crops)

    def people(self, show: str, ep_id: str | None = None, query: str = "", named: NamedFilter = "all",
               hidden: bool = False, offset: int = 0, limit: int = 50, reviewed: bool | None = None,
               first: list[int] | None = None, tracks_shown: int = TRACKS_PER_PERSON) -> PeopleView:
        """One page of a show's (or one episode's) people, most seconds on screen first (or the people
        in `first` first, in its order: the most likely duplicated); `reviewed` keeps only the people
        with (True) or without (False) a reviewer's mark. Each person comes with their first
        `tracks_shown` track parts (`tracks` pages through the rest)."""
        registry, episodes, people = self._everyone(show, ep_id)
        numbers = read_show_numbers(self.storage, show)
        counted = _counted(numbers.rows, ep_id)
        current = numbers.version == registry.version  # then a person missing from the table has 0 s
        views, faces, uncounted = [], {}, {}
        for identity_id, tracks in people.items():
            # their face: from a counted track, else (every track left out) from any, never none when one exists
            kept = [t for t in tracks if not t.excluded and t.crops] or [t for t in tracks if t.crops]
            faces[identity_id] = kept[0].crops[0] if kept else None
            who = registry.identities[identity_id]
            if bool(who.hidden) != hidden or reviewed is not None and (who.reviewed is not None) != reviewed:
                continue
            if named != "all" and (who.name is not None) != (named == "named"):
                continue
            if query and unicodedata.normalize("NFC", query).casefold() not in who.label.casefold():
                continue
            seconds, appearances = counted.get(identity_id, (0.0, 0) if current else (None, None))
            if seconds is None:  # not counted yet: sorted by what its track parts add up to
                uncounted[identity_id] = sum(t.seconds for t in tracks if not t.excluded)
            views.append(PersonView(
                id=identity_id, name=who.name, label=who.label, hidden=who.hidden, reviewed=who.reviewed,
                seconds=seconds, appearances=appearances, episodes=len({t.ep_id for t in tracks if not t.excluded}),
                crop=faces[identity_id], tracks=tracks[:tracks_shown], tracks_total=len(tracks),
                tracks_counted=sum(1 for t in tracks if not t.excluded)))
        rank = {identity: at for at, identity in enumerate(first or [])}
        views.sort(key=lambda p: (rank.get(p.id, len(rank)),
                                  -(p.seconds if p.seconds is not None else uncounted[p.id]), p.id))
        videos = {ep: how for ep, tracks in episodes.items() if (how := playable(tracks.source))}
        return PeopleView(
            show=show, ep_id=ep_id, version=registry.version, numbers_version=numbers.version,
            updated_at=registry.updated_at, updated_by=registry.updated_by, reason=registry.reason,
            change=registry.change, can_undo=registry.change in ("edit", "undo") and registry.version > 0,
            episodes=sorted(registry.episodes, key=_episode_order),
            run_ids={ep: links.run_id for ep, links in registry.episodes.items()},
            total=len(views), offset=offset, limit=limit, people=views[offset:offset + limit],
            targets=[Target(id=i, label=registry.identities[i].label, named=registry.identities[i].name is not None,
                            crop=faces[i])
                     for i in sorted(people, key=lambda i: registry.identities[i].label.casefold())
                     if not registry.identities[i].hidden],
            videos=videos,
        )

    def tracks(self, show: str, identity: int, ep_id: str | None = None, offset: int = 0,
               limit: int = TRACKS_PER_PERSON) -> PersonTracks:
        """One page of one person's track parts, in the card's order (counted first, longest first).
        KeyError when the show (or episode) has no such person."""
        registry, _, people = self._everyone(show, ep_id)
        who = registry.resolve(identity)
        if who not in people:
            raise KeyError(f"{show} has no person {identity}" + (f" in {ep_id}" if ep_id else ""))
        tracks = people[who]
        return PersonTracks(show=show, id=who, version=registry.version, total=len(tracks), offset=offset,
                            limit=limit, tracks=tracks[offset:offset + limit])

    def _everyone(self, show: str, ep_id: str | None
                  ) -> tuple[PeopleRegistry, dict[str, EpisodeTracks], dict[int, list[TrackView]]]:
        """The registry, each episode's track parts, and identity -> its track parts in the card's order."""
        registry = load_registry(self.storage, show)
        if ep_id is not None and ep_id not in registry.episodes:
            raise KeyError(f"{ep_id} has no people in {show}'s registry (yet)")
        names = [ep_id] if ep_id else sorted(registry.episodes, key=_episode_order)
        episodes = {ep: self.episode_tracks(ep, registry.episodes[ep].run_id) for ep in names}
        pieces = {ep: self.pieces(ep, tracks.run_id, registry.episodes[ep], tracks.parts)
                  for ep, tracks in episodes.items() if registry.episodes[ep].track_cuts}
        people = _people(registry, episodes, pieces)
        for tracks in people.values():
            tracks.sort(key=lambda t: (t.excluded is not None, -t.seconds))
        return registry, episodes, people

    def screentime(self, show: str, season: int | None = None, ep_id: str | None = None) -> ScreentimeView:
        """The show's last screen-time table, for the whole show, one season or one episode."""
        registry = load_registry(self.storage, show)
        numbers = read_show_numbers(self.storage, show)
        rows = []
        for row in numbers.rows:
            if season is not None and row["season"] != season or ep_id is not None and row["ep_id"] != ep_id:
                continue
            crop = _crop_of_uri(row.get("crop"), row["ep_id"])
            rows.append(ScreentimeRow(**{k: row[k] for k in SHOW_SCREENTIME_SCHEMA.names if k != "crop"}, crop=crop))
        rows.sort(key=lambda r: (-r.seconds, r.identity_id, _episode_order(r.ep_id)))
        return ScreentimeView(show=show, season=season, ep_id=ep_id, numbers_version=numbers.version,
                              version=registry.version,
                              episodes=sorted({r.ep_id for r in rows}, key=_episode_order), rows=rows)


def screentime_table(storage: Storage, show: str, season: int | None = None, ep_id: str | None = None) -> pa.Table:
    """The show's last screen-time table (empty when none yet), filtered to a season or an episode."""
    try:
        table = table_from_parquet(storage.get_bytes(ShowLayout(show).screentime_key))
    except FileNotFoundError:
        return SHOW_SCREENTIME_SCHEMA.empty_table()
    if season is not None:
        table = table.filter(pc.equal(table["season"], season))
    if ep_id is not None:
        table = table.filter(pc.equal(table["ep_id"], ep_id))
    return table


def _episode_order(ep_id: str) -> tuple[int, int]:
    ep = parse_episode_id(ep_id)
    return ep.season, ep.episode


def _people(registry: PeopleRegistry, episodes: dict[str, EpisodeTracks],
            pieces: dict[str, dict[str, dict[str, TrackPart]]] | None = None) -> dict[int, list[TrackView]]:
    """identity -> its track parts (left-out ones included, marked), after every edit. A part a
    reviewer cut (`pieces`: episode -> part -> piece key -> its frames) shows as its pieces, each
    a track of whom it is."""
    found: dict[int, list[TrackView]] = {}
    for ep_id, tracks in episodes.items():
        links = registry.episodes[ep_id]
        cut = (pieces or {}).get(ep_id, {})
        for person in links.people:
            for part_key in person.tracks:
                part = tracks.parts.get(part_key)
                track_id = int(part_key.split(".")[0])
                for key, piece in (cut.get(part_key) or {part_key: part}).items():
                    edit = links.track_edits.get(key)
                    owner = registry.resolve(edit.identity if edit is not None and edit.identity is not None
                                             else person.identity)
                    if owner not in registry.identities:
                        continue
                    found.setdefault(owner, []).append(TrackView(
                        ep_id=ep_id, track=key, seconds=piece.seconds if piece else 0.0,
                        start_s=piece.start_s if piece else 0.0, end_s=piece.end_s if piece else 0.0,
                        first_frame=piece.first_frame if piece else None,
                        last_frame=piece.last_frame if piece else None,
                        crops=[_crop(ep_id, tracks.run_id, track_id, frame, piece.moments.get(frame))
                               for _, frame in (piece.crops if piece else [])],
                        excluded=edit.excluded if edit is not None else None,
                        moved=edit is not None and edit.identity is not None))
    return found


def _crop(ep_id: str, run_id: str, track_id: int, frame: int, moment: Moment | None) -> CropRef:
    if moment is None:
        return CropRef(ep_id=ep_id, run_id=run_id, track_id=track_id, frame_index=frame)
    return CropRef(ep_id=ep_id, run_id=run_id, track_id=track_id, frame_index=frame,
                   timestamp_s=moment.timestamp_s, box=moment.box, frame=moment.frame)


def _counted(rows: list[dict], ep_id: str | None) -> dict[int, tuple[float, int]]:
    totals: dict[int, tuple[float, int]] = {}
    for row in rows:
        if ep_id is None or row["ep_id"] == ep_id:
            seconds, appearances = totals.get(row["identity_id"], (0.0, 0))
            totals[row["identity_id"]] = (round(seconds + row["seconds"], 3), appearances + row["appearances"])
    return totals


def _crop_of_uri(uri: str | None, ep_id: str) -> CropRef | None:
    """The show table names a crop by its URI (…/crops/<show>/sSS/eEE/<run>/track_NNNN/frame_NNNNNN.jpg)."""
    if not uri:
        return None
    parts = uri.rstrip("/").split("/")
    try:
        run_id, track, frame = parts[-3], parts[-2], parts[-1]
        return CropRef(ep_id=ep_id, run_id=run_id, track_id=int(track.removeprefix("track_")),
                       frame_index=int(frame.removeprefix("frame_").removesuffix(".jpg")))
    except (IndexError, ValueError):
        return None
