"""Routes of the people resource: a show's people for the review page, the edits a reviewer makes
(versioned: an edit made on an old version gets 409), screen time with CSV and Parquet downloads,
and the face crops the pages show (built from validated ids, so never outside the artifact root).

The routes are plain `def`s: FastAPI runs them in its thread pool, as storage reads block.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response, status

from screentime.contracts.edits import TRACK_PATTERN, EditRequest, UndoRequest
from screentime.contracts.episode import SHOW_JSON_PATTERN, EpisodeId, parse_episode_id
from screentime.contracts.errors import InvalidEpisodeId
from screentime.contracts.layout import EpisodeLayout, ShowLayout, validate_run_id
from screentime.contracts.review import PeopleView, PersonTracks, ScreentimeView, TrackCrops
from screentime.identity.edits import InvalidEdit, NothingToUndo, edit_people, undo_last
from screentime.identity.registry import StaleRegistry, load_registry
from screentime.identity.review import (
    TRACKS_PER_PERSON,
    NamedFilter,
    ReviewReader,
    counted_version,
    screentime_table,
)
from screentime.identity.suggestions import SuggestionReader
from screentime.progress_api.deps import ReaderDep, SuggestionsDep, TokenFirstRoute, require_token
from screentime.progress_api.models import (
    EPISODE_ID_PATTERN,
    RUN_ID_PATTERN,
    EditResponse,
    ErrorResponse,
    ValidationErrorResponse,
)
from screentime.storage.parquet import PARQUET, table_to_parquet

router = APIRouter(tags=["people"], route_class=TokenFirstRoute)
SHOW_PATTERN = SHOW_JSON_PATTERN  # as EpisodeId checks a show slug
REGISTRY_VERSION_COLUMN = "registry_version"  # the CSV's last column: the version its numbers were counted at
REGISTRY_VERSION_HEADER = "X-Screentime-Registry-Version"
CROP_CACHE = "public, max-age=31536000, immutable"  # a crop's URL names its run: it never changes
ERRORS = {404: {"model": ErrorResponse}, 422: {"model": ValidationErrorResponse}}
WRITE_ERRORS = {
    **ERRORS, 401: {"model": ErrorResponse},
    400: {"model": ErrorResponse, "description": "The body could not be read (not UTF-8 text)"},
    413: {"description": "The body is over SCREENTIME_API_MAX_BODY_BYTES (64 KiB by default)"},
}


def show_slug(show: str = Path(description="The show's slug, e.g. the-office",
                               json_schema_extra={"pattern": SHOW_PATTERN})) -> str:
    try:
        ShowLayout(show)
    except InvalidEpisodeId as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    return show


ShowDep = Annotated[str, Depends(show_slug)]
PeopleSort = Literal["seconds", "duplicated"]


def _episode(ep_id: str | None, show: str | None = None) -> str | None:
    if ep_id is None:
        return None
    try:
        ep = parse_episode_id(ep_id)
    except InvalidEpisodeId as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    if show is not None and ep.show != show:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{ep} is not an episode of {show}")  # a valid id, elsewhere
    return str(ep)


def _known_show(reader: ReviewReader, show: str) -> None:
    if load_registry(reader.storage, show).version == 0:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no people recorded for show {show!r} yet: run one of "
                            "its episodes; its people are linked when the run publishes")


@router.get("/shows/{show}/people", response_model=PeopleView, responses=ERRORS,
            summary="A show's (or one episode's) people, most seconds first, one page at a time")
def get_people(
    show: ShowDep,
    reader: ReaderDep,
    finder: SuggestionsDep,
    ep_id: Annotated[str | None, Query(description="Only this episode's people and tracks",
                                       json_schema_extra={"pattern": EPISODE_ID_PATTERN})] = None,
    q: Annotated[str, Query(max_length=80, description="Part of a name or label ('person 12')")] = "",
    named: NamedFilter = "all",
    hidden: Annotated[bool, Query(description="The people marked 'not a face' or 'ignore' instead")] = False,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    reviewed: Annotated[bool | None, Query(description="false: only the people not marked reviewed yet; "
                                           "true: only those marked")] = None,
    sort: Annotated[PeopleSort, Query(description="'seconds': most seconds first; 'duplicated': the people with "
                                      "the nearest 'same person?' match first")] = "seconds",
    tracks: Annotated[int, Query(ge=1, le=500, description="track parts per person (the card's first page; "
                                 "GET .../people/{identity}/tracks gives the rest)")] = TRACKS_PER_PERSON,
) -> PeopleView:
    ep = _episode(ep_id, show)
    _known_show(reader, show)
    first = _most_duplicated(finder, reader, show) if sort == "duplicated" else None
    try:
        return reader.people(show, ep, q.strip(), named, hidden, offset, limit, reviewed=reviewed, first=first,
                             tracks_shown=tracks)
    except KeyError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, exc.args[0]) from exc


def _most_duplicated(finder: SuggestionReader, reader: ReviewReader, show: str) -> list[int]:
    """The show's people with a "same person?" match, nearest match first, as GET /shows/{show}/matches
    orders them (the pairs come nearest first)."""
    nearest: dict[int, float] = {}
    for pair in finder.pairs(load_registry(reader.storage, show)):
        nearest.setdefault(pair.a, pair.distance)
        nearest.setdefault(pair.b, pair.distance)
    return sorted(nearest, key=lambda who: (nearest[who], who))


@router.get("/shows/{show}/people/{identity}/tracks", response_model=PersonTracks, responses=ERRORS,
            summary="One page of a person's track parts (counted first, longest first): a card's later tracks")
def get_person_tracks(
    show: ShowDep,
    reader: ReaderDep,
    identity: Annotated[int, Path(ge=1, le=10**9)],
    ep_id: Annotated[str | None, Query(description="Only this episode's track parts",
                                       json_schema_extra={"pattern": EPISODE_ID_PATTERN})] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = TRACKS_PER_PERSON,
) -> PersonTracks:
    ep = _episode(ep_id, show)
    _known_show(reader, show)
    try:
        return reader.tracks(show, identity, ep, offset, limit)
    except KeyError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, exc.args[0]) from exc


@router.get("/shows/{show}/episodes/{ep_id}/tracks/{track}/crops", response_model=TrackCrops, responses=ERRORS,
            summary="A track's (or a piece's) crops in time order: where the face changes, for split_track")
def get_track_crops(
    show: ShowDep,
    reader: ReaderDep,
    ep_id: Annotated[str, Path(json_schema_extra={"pattern": EPISODE_ID_PATTERN})],
    track: Annotated[str, Path(description="track_id.part ('12.0') or a piece of one ('12.0@340')",
                               json_schema_extra={"pattern": TRACK_PATTERN.pattern})],
    limit: Annotated[int, Query(ge=2, le=500, description="crops at most, spread over the track")] = 120,
) -> TrackCrops:
    ep = _episode(ep_id, show)
    if not TRACK_PATTERN.match(track):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "a track is written track_id.part, e.g. '12.0' "
                            "(a piece of one: '12.0@340')")
    _known_show(reader, show)
    try:
        return reader.track_crops(show, ep, track, limit)
    except KeyError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, exc.args[0]) from exc


@router.post(
    "/shows/{show}/people/edits", response_model=EditResponse, dependencies=[Depends(require_token)],
    summary="Name, merge, move a track or split one at a frame, leave out a track or a person, mark reviewed",
    responses={**WRITE_ERRORS,
               409: {"model": ErrorResponse, "description": "The people changed since base_version: "
                     "nothing was written; reload and make the edit again"}},
)
def post_edit(body: EditRequest, show: ShowDep, reader: ReaderDep) -> EditResponse:
    _known_show(reader, show)
    try:
        registry = edit_people(reader.storage, show, body.base_version, body.edit, by=body.by)
    except StaleRegistry as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except InvalidEdit as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    return EditResponse.of(registry)


@router.post(
    "/shows/{show}/people/undo", response_model=EditResponse, dependencies=[Depends(require_token)],
    summary="Take back the last edit (a new version; the history keeps both)",
    responses={**WRITE_ERRORS,
               409: {"model": ErrorResponse, "description": "Stale base_version, or nothing to undo"}},
)
def post_undo(body: UndoRequest, show: ShowDep, reader: ReaderDep) -> EditResponse:
    _known_show(reader, show)
    try:
        registry = undo_last(reader.storage, show, body.base_version, by=body.by)
    except (StaleRegistry, NothingToUndo) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    return EditResponse.of(registry)


SeasonQuery = Annotated[int | None, Query(ge=0, le=9999, description="Only this season")]
EpisodeQuery = Annotated[str | None, Query(description="Only this episode",
                                           json_schema_extra={"pattern": EPISODE_ID_PATTERN})]


@dataclass(frozen=True)
class Scope:
    """What a screen-time route reads: a known show, and at most one season or episode of it."""

    show: str
    season: int | None
    ep_id: str | None

    def attachment(self, extension: str) -> dict[str, str]:
        name = self.ep_id or (f"{self.show}-s{self.season:02d}" if self.season is not None else self.show)
        return {"Content-Disposition": f'attachment; filename="{name}-screentime.{extension}"'}


def screentime_scope(show: ShowDep, reader: ReaderDep, season: SeasonQuery = None,
                     ep_id: EpisodeQuery = None) -> Scope:
    scope = Scope(show, season, _episode(ep_id, show))
    _known_show(reader, show)
    return scope


ScopeDep = Annotated[Scope, Depends(screentime_scope)]


@router.get("/shows/{show}/screentime", response_model=ScreentimeView, responses=ERRORS,
            summary="Seconds on screen per person and episode (the show's last table)")
def get_screentime(scope: ScopeDep, reader: ReaderDep) -> ScreentimeView:
    return reader.screentime(scope.show, scope.season, scope.ep_id)


@router.get("/shows/{show}/screentime.csv", response_class=Response, responses=ERRORS,
            summary="The screen-time rows as CSV (identity_id, name, ..., seconds, appearances, registry_version)")
def get_screentime_csv(scope: ScopeDep, reader: ReaderDep) -> Response:
    table = screentime_table(reader.storage, scope.show, scope.season, scope.ep_id)
    version = counted_version(table)  # a CSV has no metadata: each row says which version it counts
    names = [n for n in table.column_names if n != "crop"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*names, REGISTRY_VERSION_COLUMN])
    writer.writerows([*(row[n] for n in names), version] for row in table.select(names).to_pylist())
    headers = {**scope.attachment("csv"), REGISTRY_VERSION_HEADER: "" if version is None else str(version)}
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/shows/{show}/screentime.parquet", response_class=Response, responses=ERRORS,
            summary="The screen-time rows as Parquet (the show table's schema)")
def get_screentime_parquet(scope: ScopeDep, reader: ReaderDep) -> Response:
    table = screentime_table(reader.storage, scope.show, scope.season, scope.ep_id)
    return Response(table_to_parquet(table), media_type=PARQUET, headers=scope.attachment("parquet"))


@router.get(
    "/crops/{ep_id}/{run_id}/{track_id}/{frame_index}.jpg", response_class=Response,
    summary="One face crop, read from storage (local disk or S3)",
    responses={200: {"content": {"image/jpeg": {}}}, **ERRORS},
)
def get_crop(
    ep_id: Annotated[str, Path(json_schema_extra={"pattern": EPISODE_ID_PATTERN})],
    run_id: Annotated[str, Path(json_schema_extra={"pattern": RUN_ID_PATTERN})],
    track_id: Annotated[int, Path(ge=0, le=10**9)],
    frame_index: Annotated[int, Path(ge=0, le=10**9)],
    reader: ReaderDep,
) -> Response:
    try:  # every part validated, the key built by the layout: no path from the URL reaches storage
        ep: EpisodeId = parse_episode_id(ep_id)
        key = EpisodeLayout(ep).crop_key(validate_run_id(run_id), track_id, frame_index)
    except (InvalidEpisodeId, ValueError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    try:
        data = reader.storage.get_bytes(key)
    except FileNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no crop of track {track_id} at frame {frame_index} "
                            f"in run {run_id} of {ep}") from exc
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": CROP_CACHE})
