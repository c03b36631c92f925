"""Routes of the episodes resource: list, latest progress (polling), progress events (SSE)."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Response, status
from sse_starlette import EventSourceResponse

from screentime.contracts.episode import EpisodeId, parse_episode_id
from screentime.contracts.errors import InvalidEpisodeId
from screentime.contracts.layout import ARTIFACTS, MANIFEST_FILE, PROGRESS_FILE, episode_of_key, validate_run_id
from screentime.contracts.progress import ProgressRecord
from screentime.progress.store import ProgressStore, UnreadableProgress
from screentime.progress_api.deps import HubDep, SettingsDep, StoreDep, StreamSlot
from screentime.progress_api.models import (
    EPISODE_ID_EXAMPLE,
    EPISODE_ID_PATTERN,
    EVENT_ID_PATTERN,
    RUN_ID_PATTERN,
    EpisodeList,
    EpisodeSummary,
    ErrorResponse,
    ValidationErrorResponse,
)
from screentime.progress_api.sse import event_stream

router = APIRouter(prefix="/episodes", tags=["episodes"])
_PROGRESS_FILES = (PROGRESS_FILE, MANIFEST_FILE)
# `{ep_id:path}` takes a '/' too (an encoded %2F arrives decoded), so such an id reaches the
# parser and is refused with its message instead of falling through to a bare 404.
EPISODE_PATH = "/{ep_id:path}"


def episode(
    ep_id: str = Path(description="Episode id, e.g. the-office-s02e07",
                      json_schema_extra={"pattern": EPISODE_ID_PATTERN}, examples=[EPISODE_ID_EXAMPLE]),
) -> EpisodeId:
    """The path's episode id, through the one parser (422 with its message when invalid)."""
    try:
        return parse_episode_id(ep_id)
    except InvalidEpisodeId as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc


EpisodeDep = Annotated[EpisodeId, Depends(episode)]


def _episode_of(key: str) -> EpisodeId | None:
    return episode_of_key(key, _PROGRESS_FILES)


_UNREADABLE = {503: {"model": ErrorResponse, "description": "The episode's progress.json is not a valid record "
                     "(or is a folder); a run replaces a bad file"}}


def _latest(store: ProgressStore, ep: EpisodeId) -> ProgressRecord | None:
    """The episode's latest record; 503 with one line when its progress.json cannot be read."""
    try:
        return store.latest(ep)
    except UnreadableProgress as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            f"the progress record of {ep} cannot be read: {exc}") from exc


@router.get("", response_model=EpisodeList, summary="Every episode with its latest progress")
def list_episodes(store: StoreDep) -> EpisodeList:
    keys = store.storage.list_keys(f"{ARTIFACTS}/manifests/")
    complete = {ep for key in keys if key.endswith("/manifest.json") and (ep := _episode_of(key))}
    episodes = []
    for ep in sorted({ep for key in keys if (ep := _episode_of(key))}):
        try:
            record = store.latest(ep)
        except UnreadableProgress:  # one unreadable progress.json (or a folder there) hides no other episode
            continue
        if record is None:
            continue  # a manifest without progress (written by an older version): nothing live
        episodes.append(EpisodeSummary(
            **record.model_dump(include=set(EpisodeSummary.model_fields)), complete=ep in complete,
        ))
    episodes.sort(key=lambda e: e.updated_at, reverse=True)
    return EpisodeList(episodes=episodes)


@router.get(
    f"{EPISODE_PATH}/progress", response_model=ProgressRecord, summary="The episode's latest progress record",
    responses={404: {"model": ErrorResponse}, 422: {"model": ValidationErrorResponse}, **_UNREADABLE},
)
def get_progress(ep: EpisodeDep, store: StoreDep) -> ProgressRecord:
    record = _latest(store, ep)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no progress recorded for episode {ep}")
    return record


def _after(last_event_id: str) -> int:
    if last_event_id == "":
        return 0
    if not re.fullmatch(EVENT_ID_PATTERN, last_event_id):  # not str.isdigit: it takes '²', int() does not
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"Last-Event-ID must be an event id (a seq number), got {last_event_id[:40]!r}")
    return int(last_event_id)


@router.get(
    f"{EPISODE_PATH}/events", summary="The episode's progress as Server-Sent Events",
    response_class=EventSourceResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description":
              "`event: progress|done|error`, `id: <seq>`, `data: <progress record JSON>`; "
              "heartbeat comments while idle; the stream closes after `done` or `error`."},
        204: {"description": "Last-Event-ID is already the run's terminal event: nothing more to send."},
        404: {"model": ErrorResponse}, 422: {"model": ValidationErrorResponse},
        429: {"model": ErrorResponse, "description": "The client already holds its limit of open streams"},
        **_UNREADABLE,
    },
)
async def get_events(
    ep: EpisodeDep,
    hub: HubDep,
    settings: SettingsDep,
    _slot: StreamSlot,
    run_id: str | None = Query(None, description="Follow this run; default: the episode's latest run. "
                               "A run that has written nothing yet is waited for.",
                               json_schema_extra={"pattern": RUN_ID_PATTERN}),
    last_event_id: str = Header("", description="Resume after this seq (sent by EventSource)",
                                       json_schema_extra={"pattern": EVENT_ID_PATTERN}),
) -> Response:
    after = _after(last_event_id)
    if run_id is None:
        latest = await asyncio.to_thread(_latest, hub.store, ep)
        if latest is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no progress recorded for episode {ep}")
        run_id = latest.run_id
    else:
        try:
            validate_run_id(run_id)
        except ValueError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    return await event_stream(hub, settings, ep, run_id, after)

