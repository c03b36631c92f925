"""Routes of the jobs resource: launch an episode's run through Dagster, optionally streaming it."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response, status

from screentime.contracts.episode import parse_episode_id
from screentime.contracts.errors import InvalidOption, ScreentimeError, VideoError
from screentime.library.inputs import check_run_inputs
from screentime.progress.store import UnreadableProgress
from screentime.progress_api.dagster_client import DagsterUnavailable, LaunchRejected
from screentime.progress_api.deps import (
    DagsterDep,
    HubDep,
    SettingsDep,
    StreamSlotIfAsked,
    TokenFirstRoute,
    require_token,
)
from screentime.progress_api.limits import EVENT_STREAM
from screentime.progress_api.models import ErrorResponse, LaunchRequest, LaunchResponse, ValidationErrorResponse
from screentime.progress_api.sse import RUN_ID_HEADER, event_stream

router = APIRouter(prefix="/jobs", tags=["jobs"], route_class=TokenFirstRoute)
log = logging.getLogger(__name__)


@router.post(
    "/detect_track", response_model=LaunchResponse, status_code=status.HTTP_201_CREATED,
    summary="Launch an episode's run (detect + track) through the Dagster webserver",
    dependencies=[Depends(require_token)],
    responses={
        200: {"content": {EVENT_STREAM: {}}, "description":
              f"With `Accept: {EVENT_STREAM}`: the run's progress events until done or error "
              f"(the run id is in the `{RUN_ID_HEADER}` header)."},
        400: {"model": ErrorResponse, "description": "Dagster refused the run"},
        401: {"model": ErrorResponse},
        413: {"description": "The body is over SCREENTIME_API_MAX_BODY_BYTES (64 KiB by default)"},
        422: {"model": ValidationErrorResponse, "description":
              "An invalid episode id or option, or a video that is missing or not readable: nothing was launched"},
        429: {"model": ErrorResponse, "description": "Streaming asked for, but the client holds its limit of streams"},
        502: {"model": ErrorResponse, "description": "The Dagster webserver (or the videos' S3) cannot be reached"},
    },
)
async def detect_track(
    launch: LaunchRequest,
    request: Request,
    response: Response,
    dagster: DagsterDep,
    hub: HubDep,
    settings: SettingsDep,
    _slot: StreamSlotIfAsked,
    accept: str = Header("application/json"),
):
    ep = parse_episode_id(launch.ep_id)
    options = launch.run_options()
    try:  # before Dagster hears of it: a bad input adds no partition and launches nothing
        video = await asyncio.to_thread(check_run_inputs, ep, launch.video, options)
    except (VideoError, InvalidOption) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    except ScreentimeError as exc:  # e.g. the videos' S3 endpoint cannot be reached
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, str(exc)) from exc
    try:
        run_id = await dagster.launch_episode(ep, options, video)
    except DagsterUnavailable as exc:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, str(exc)) from exc
    except LaunchRejected as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
    # Before answering: polling says `queued` and the events URL (with or without run_id) follows
    # this run from the moment the client has its id, not a 404 or the previous run's replay.
    try:
        await asyncio.to_thread(hub.store.announce, ep, run_id)
    except UnreadableProgress as exc:  # a folder where progress.json goes: the run is launched all the same
        log.warning("run %s of %s launched, its queued record not written: %s", run_id, ep, exc)
    if EVENT_STREAM in accept:
        return await event_stream(hub, settings, ep, run_id, after=0)
    events_url = request.url_for("get_events", ep_id=str(ep)).include_query_params(run_id=run_id)
    response.headers[RUN_ID_HEADER] = run_id
    return LaunchResponse(
        run_id=run_id, ep_id=str(ep), dagster_run_url=f"{settings.ui_url}/runs/{run_id}",
        progress_url=str(request.url_for("get_progress", ep_id=str(ep))), events_url=str(events_url),
    )
