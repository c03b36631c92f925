"""The app factory: `create_app(settings)` builds the sidecar (tests call it; `screentime api` serves it)."""

from __future__ import annotations

from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from screentime.identity.review import ReviewReader
from screentime.progress.store import ProgressStore
from screentime.progress_api.dagster_client import DagsterClient
from screentime.progress_api.hub import ProgressHub
from screentime.progress_api.limits import StreamSlots
from screentime.progress_api.models import FieldError, ValidationErrorResponse
from screentime.progress_api.routes import episodes, health, jobs, live, media, pages, people, suggestions
from screentime.progress_api.settings import ApiSettings
from screentime.progress_api.sse import RUN_ID_HEADER
from screentime.storage import open_storage

DESCRIPTION = """Live progress of Screentime episode runs, read from the files the pipeline's
progress logger writes (locally or on S3): poll the latest record, follow Server-Sent Events,
launch a run through the Dagster webserver, or open `/` for a page with progress bars. A show's
people: list them with their crops, name, merge and split them (versioned edits), read and download
their screen time; `/review?show=<show>` and `/screentime?show=<show>` are the pages for people."""


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or ApiSettings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0)) as http:
            app.state.dagster = DagsterClient(settings.dagster_url, http)
            yield

    app = FastAPI(title="Screentime progress", description=DESCRIPTION, version="1", lifespan=lifespan,
                  max_body_size=settings.max_body_bytes)
    app.state.settings = settings
    storage = open_storage(settings.storage)
    app.state.hub = ProgressHub(ProgressStore(storage), settings.poll_s)
    app.state.review = ReviewReader(storage)
    app.state.stream_slots = StreamSlots(settings.max_streams_per_client)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, unparsable_body)  # Starlette's: FastAPI raises that one here
    app.add_middleware(HeadAsGet)
    if settings.cors_origins:  # off unless origins are named: browsers then refuse other sites' pages
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
            expose_headers=[RUN_ID_HEADER],
        )
    app.include_router(episodes.router)
    app.include_router(jobs.router)
    app.include_router(people.router)
    app.include_router(live.router)
    app.include_router(media.router)
    app.include_router(suggestions.router)
    app.include_router(health.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=str(pages.STATIC)), name="static")
    return app


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with one line naming every problem (as the CLI prints it), and the same per field.

    The input is never echoed back: it may be 10 kB long, or a token pasted in the wrong field.
    """
    errors = []
    for err in exc.errors():
        loc = list(err.get("loc", ())) or ["request"]
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        if err.get("type") == "json_invalid":  # loc is ("body", <offset>)
            loc, msg = loc[:1], f"not valid JSON ({err.get('ctx', {}).get('error', 'unreadable')})"
        errors.append(FieldError(loc=loc, msg=msg))
    detail = "; ".join(f"{_where(e.loc)}: {e.msg}" for e in errors) or "invalid request"
    body = ValidationErrorResponse(detail=detail, errors=errors)
    return JSONResponse(body.model_dump(), status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


# FastAPI's words when the body's JSON parser raised something other than a JSON syntax error: an
# integer of more than 4,300 digits (Python's limit) or nesting deeper than the recursion limit.
_UNPARSABLE_BODY = "There was an error parsing the body"


async def unparsable_body(request: Request, exc: HTTPException):
    """A body JSON cannot hold in memory sensibly is a 422 in the documented shape, not a bare 400."""
    if exc.status_code == status.HTTP_400_BAD_REQUEST and exc.detail == _UNPARSABLE_BODY:
        msg = "not valid JSON here (a number over 4,300 digits, or nesting too deep)"
        body = ValidationErrorResponse(detail=f"request body: {msg}", errors=[FieldError(loc=["body"], msg=msg)])
        return JSONResponse(body.model_dump(), status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
    return await http_exception_handler(request, exc)


class HeadAsGet:
    """HEAD answered as GET without the body (FastAPI routes take only the methods they name), for
    every route but the event streams, which have no head without a stream."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "HEAD" or scope["path"].endswith("/events"):
            return await self.app(scope, receive, send)

        async def head_only(message):
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, head_only)


def _where(loc: list[str | int]) -> str:
    """("body", "fps") -> "fps"; ("body",) -> "request body"."""
    return ".".join(map(str, loc[1:])) if len(loc) > 1 else f"request {loc[0]}"
