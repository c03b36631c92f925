"""Open event streams, counted per client address and bounded, so one client cannot hold them all.

A stream holds its slot for as long as its response lasts: the slot is a FastAPI dependency with
`yield`, whose exit runs once the response has ended, whether the run finished, the client went
away, or a send timed out. `/healthz` reports the count, so a leak would show there.
(Request bodies are bounded in size by FastAPI's own `max_body_size`, set in `create_app`, and in time
by the body deadline in `server.py`.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import HTTPException, Request, status

EVENT_STREAM = "text/event-stream"


class StreamSlots:
    def __init__(self, per_client: int):
        self.per_client = per_client
        self._open: Counter[str] = Counter()

    @property
    def open(self) -> int:
        return sum(self._open.values())

    def acquire(self, client: str) -> bool:
        if self._open[client] >= self.per_client:
            return False
        self._open[client] += 1
        return True

    def release(self, client: str) -> None:
        self._open[client] -= 1
        if self._open[client] <= 0:
            del self._open[client]


@asynccontextmanager
async def _slot(request: Request) -> AsyncIterator[None]:
    slots: StreamSlots = request.app.state.stream_slots
    client = request.client.host if request.client else "unknown"
    if not slots.acquire(client):
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"{client} already has {slots.per_client} open event streams, the limit per client "
            "(SCREENTIME_API_MAX_STREAMS_PER_CLIENT): close one first",
            headers={"Retry-After": "5"},
        )
    try:
        yield
    finally:
        slots.release(client)


async def stream_slot(request: Request) -> AsyncIterator[None]:
    """One of the client's event-stream slots, held until the response ends (429 when none is free)."""
    async with _slot(request):
        yield


async def stream_slot_if_asked(request: Request) -> AsyncIterator[None]:
    """A slot only when the client asks for an event stream (`Accept: text/event-stream`)."""
    if EVENT_STREAM not in request.headers.get("accept", ""):
        yield
        return
    async with _slot(request):
        yield
