"""Server-Sent Events of one run's progress: each record an event (`id:` its seq), 204 when the
client already has the run's last one (how a server stops a browser's EventSource reconnecting)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import Response, status
from sse_starlette import EventSourceResponse, ServerSentEvent

from screentime.contracts.episode import EpisodeId
from screentime.contracts.progress import ProgressRecord
from screentime.progress_api.hub import ProgressHub
from screentime.progress_api.settings import ApiSettings

RUN_ID_HEADER = "X-Screentime-Run-Id"
# A client that stops reading (its socket full) is dropped after this long, freeing its stream.
SEND_TIMEOUT_S = 30.0


def event_for(record: ProgressRecord) -> ServerSentEvent:
    kind = record.phase if record.terminal else "progress"
    return ServerSentEvent(data=record.model_dump_json(), event=kind, id=str(record.seq))


async def _events(records: AsyncIterator[ProgressRecord]) -> AsyncIterator[ServerSentEvent]:
    async for record in records:
        yield event_for(record)


async def event_stream(hub: ProgressHub, settings: ApiSettings, ep: EpisodeId, run_id: str, after: int) -> Response:
    """The SSE response for one run, or 204 when the client already has its terminal event."""
    records = await asyncio.to_thread(hub.store.history, ep, run_id)
    if records and records[-1].terminal and after >= records[-1].seq:
        return Response(status_code=status.HTTP_204_NO_CONTENT, headers={RUN_ID_HEADER: run_id})
    return EventSourceResponse(
        _events(hub.follow(ep, run_id, after)), ping=settings.heartbeat_s, headers={RUN_ID_HEADER: run_id},
        send_timeout=SEND_TIMEOUT_S,
    )
