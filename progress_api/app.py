"""The app factory: `create_app(settings)` builds the sidecar (tests call it; `screentime api` serves it)."""

from __future__ import annotations

from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from screentime.progress_api import episodes, jobs, page
from screentime.progress_api.dagster_client import DagsterClient
from screentime.progress_api.hub import ProgressHub
from screentime.progress_api.settings import ApiSettings
from screentime.progress_store import ProgressStore

DESCRIPTION = """Live progress of Screentime episode runs, read from the files the pipeline's
progress logger writes (locally or on S3): poll the latest record, follow Server-Sent Events,
launch a run through the Dagster webserver, or open `/` for a page with progress bars."""


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or ApiSettings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0)) as http:
            app.state.dagster = DagsterClient(settings.dagster_url, http)
            yield

    app = FastAPI(title="Screentime progress", description=DESCRIPTION, version="1", lifespan=lifespan)
    app.state.settings = settings
    app.state.hub = ProgressHub(ProgressStore(settings.storage.open()), settings.poll_s)
    app.include_router(episodes.router)
    app.include_router(jobs.router)
    app.include_router(page.router)
    app.mount("/static", StaticFiles(directory=str(page.STATIC)), name="static")
    return app
