"""What routes depend on, as `Annotated` types: the settings, the progress hub and store, the
Dagster client, the people reader, the bearer token, and event-stream slots. Everything lives on
`app.state`, set up once by `create_app`."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from screentime.identity.review import ReviewReader
from screentime.progress.store import ProgressStore
from screentime.progress_api.dagster_client import DagsterClient
from screentime.progress_api.hub import ProgressHub
from screentime.progress_api.limits import stream_slot, stream_slot_if_asked
from screentime.progress_api.settings import ApiSettings


def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


def get_hub(request: Request) -> ProgressHub:
    return request.app.state.hub


def get_store(request: Request) -> ProgressStore:
    return request.app.state.hub.store


def get_dagster(request: Request) -> DagsterClient:
    return request.app.state.dagster


def get_reader(request: Request) -> ReviewReader:
    return request.app.state.review


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
HubDep = Annotated[ProgressHub, Depends(get_hub)]
StoreDep = Annotated[ProgressStore, Depends(get_store)]
DagsterDep = Annotated[DagsterClient, Depends(get_dagster)]
ReaderDep = Annotated[ReviewReader, Depends(get_reader)]
StreamSlot = Annotated[None, Depends(stream_slot)]
StreamSlotIfAsked = Annotated[None, Depends(stream_slot_if_asked)]

_bearer = HTTPBearer(auto_error=False, description="Needed only when SCREENTIME_API_TOKEN is set")


def require_token(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Checks the bearer token when the API has one configured; open otherwise."""
    if not settings.api_token:
        return
    given = credentials.credentials if credentials is not None else ""
    if not secrets.compare_digest(given.encode(), settings.api_token.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "missing or wrong bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
