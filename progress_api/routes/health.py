"""`GET /healthz`: the sidecar is up, and what it holds open (streams, followed runs, asyncio tasks).

The counts make a leak visible from outside: with no client connected, `open_streams` and
`followed_runs` are 0 and `tasks` is back to what an idle server runs.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request

from screentime.progress_api.models import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness, with the open streams and tasks")
async def healthz(request: Request) -> Health:
    return Health(
        status="ok",
        open_streams=request.app.state.stream_slots.open,
        followed_runs=request.app.state.hub.followed_runs,
        tasks=len(asyncio.all_tasks()),
    )
