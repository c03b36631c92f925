"""What routes depend on, as `Annotated` types: the settings, the progress hub and store, the
Dagster client, the people reader and its "same person?" suggestions, the bearer token, and
event-stream slots. Everything lives on
`app.state`, set up once by `create_app`."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Response, status
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from screentime.identity.review import ReviewReader
from screentime.identity.suggestions import SuggestionReader
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


def get_suggestions(request: Request) -> SuggestionReader:
    """The app's one SuggestionReader (it caches each analysis run's neighbours), made on first use
    over the people reader's storage."""
    storage = request.app.state.review.storage
    found = getattr(request.app.state, "suggestions", None)
    if found is None or found.storage is not storage:
        found = request.app.state.suggestions = SuggestionReader(storage)
    return found


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
HubDep = Annotated[ProgressHub, Depends(get_hub)]
StoreDep = Annotated[ProgressStore, Depends(get_store)]
DagsterDep = Annotated[DagsterClient, Depends(get_dagster)]
ReaderDep = Annotated[ReviewReader, Depends(get_reader)]
SuggestionsDep = Annotated[SuggestionReader, Depends(get_suggestions)]
StreamSlot = Annotated[None, Depends(stream_slot)]
StreamSlotIfAsked = Annotated[None, Depends(stream_slot_if_asked)]

_bearer = HTTPBearer(auto_error=False, description="Needed only when SCREENTIME_API_TOKEN is set")


UNAUTHORIZED = "missing or wrong bearer token"


def require_token(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Checks the bearer token when the API has one configured; open otherwise. On a route of a
    `TokenFirstRoute` router it has already been checked, before the body was read; as a
    dependency it is what /docs shows."""
    if not settings.api_token:
        return
    given = credentials.credentials if credentials is not None else ""
    if not secrets.compare_digest(given.encode(), settings.api_token.encode()):
        raise _unauthorized()


def _unauthorized() -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})


def bearer_matches(token: str, authorization: str | None) -> bool:
    """Whether an `Authorization` header carries `Bearer <token>` (compared in constant time), as
    `require_token` reads it through HTTPBearer."""
    scheme, credentials = get_authorization_scheme_param(authorization)
    given = credentials if scheme.lower() == "bearer" else ""
    return secrets.compare_digest(given.encode(), token.encode())


class TokenFirstRoute(APIRoute):
    """A route that checks the bearer token before it reads the request body, when it depends on
    `require_token`. FastAPI reads a body before it runs any dependency, so with `require_token`
    alone a client without the token was made to wait for its body (up to 64 KiB, sent as slowly
    as it liked) before its 401. The rest of an unread body is drained, or the connection closed
    at the body deadline (`server.py`). The routers with such routes (jobs, people) use this class."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if not _depends_on(self.dependant, require_token):
            return handler

        async def token_first(request: Request) -> Response:
            token = request.app.state.settings.api_token
            if token and not bearer_matches(token, request.headers.get("authorization")):
                raise _unauthorized()
            return await handler(request)

        return token_first


def _depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    stack = [dependant]
    while stack:
        node = stack.pop()
        if node.call is call:
            return True
        stack.extend(node.dependencies)
    return False
