"""Routes of the jobs resource: launch an episode's run through Dagster, optionally streaming it."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response, status

from screentime.episode import parse_episode_id
from screentime.progress_api.dagster_client import DagsterClient, DagsterUnavailable, LaunchRejected
from screentime.progress_api.episodes import RUN_ID_HEADER, event_stream, get_hub
from screentime.progress_api.hub import ProgressHub
from screentime.progress_api.models import ErrorResponse, LaunchRequest, LaunchResponse
from screentime.progress_api.settings import ApiSettings, get_settings, require_token

router = APIRouter(prefix="/jobs", tags=["jobs"])
EVENT_STREAM = "text/event-stream"


def get_dagster(request: Request) -> DagsterClient:
    return request.app.state.dagster


@router.post(
    "/detect_track", response_model=LaunchResponse, status_code=status.HTTP_201_CREATED,
    summary="Launch an episode's run (detect + track) through the Dagster webserver",
    dependencies=[Depends(require_token)],
    responses={
        200: {"content": {EVENT_STREAM: {}}, "description":
              f"With `Accept: {EVENT_STREAM}`: the run's progress events until done or error "
              f"(the run id is in the `{RUN_ID_HEADER}` header)."},
        400: {"model": ErrorResponse, "description": "Dagster refused the run"},
        401: {"model": ErrorResponse}, 422: {"model": ErrorResponse},
        502: {"model": ErrorResponse, "description": "The Dagster webserver cannot be reached"},
    },
)
async def detect_track(
    launch: LaunchRequest,
    request: Request,
    response: Response,
    accept: str = Header("application/json"),
    dagster: DagsterClient = Depends(get_dagster),
    hub: ProgressHub = Depends(get_hub),
    settings: ApiSettings = Depends(get_settings),
):
    ep = parse_episode_id(launch.ep_id)
    try:
        run_id = await dagster.launch_episode(ep, launch.run_options(), launch.video)
    except DagsterUnavailable as exc:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, str(exc)) from exc
    except LaunchRejected as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
    if EVENT_STREAM in accept:
        return await event_stream(hub, settings, ep, run_id, after=0)
    events_url = request.url_for("get_events", ep_id=str(ep)).include_query_params(run_id=run_id)
    response.headers[RUN_ID_HEADER] = run_id
    return LaunchResponse(
        run_id=run_id, ep_id=str(ep), dagster_run_url=f"{settings.ui_url}/runs/{run_id}",
        progress_url=str(request.url_for("get_progress", ep_id=str(ep))), events_url=str(events_url),
    )
