"""Live pages: a show's people versions as Server-Sent Events, so every open page sees another
reviewer's edit and Dagster's recount without a reload.

`GET /shows/{show}/events` sends `event: versions` with the registry's version (who wrote it
and why) and the version the show's table was counted at, at once and then on every change.
One polling task per followed show, however many pages follow it (as the progress hub does for
runs): it probes the history for the next version (one small read) and reads the table's
version, every `poll_s` seconds. The stream takes one of the client's event-stream slots.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sse_starlette import EventSourceResponse, ServerSentEvent

from screentime.contracts.layout import ShowLayout
from screentime.identity.recount import table_version
from screentime.identity.registry import load_registry, load_version
from screentime.progress_api.deps import ReaderDep, SettingsDep, StreamSlot
from screentime.progress_api.models import ErrorResponse, ValidationErrorResponse
from screentime.progress_api.routes.people import ShowDep
from screentime.progress_api.sse import SEND_TIMEOUT_S
from screentime.storage.base import Storage

log = logging.getLogger(__name__)
router = APIRouter(tags=["people"])


class ShowVersions(BaseModel):
    show: str
    version: int  # the registry's newest version (0: nothing linked yet)
    numbers_version: int | None  # the version the show's screen-time table was counted at
    updated_by: str = ""
    updated_at: str = ""
    reason: str = ""
    change: str = "link"


def read_versions(storage: Storage, show: str, last: ShowVersions | None) -> ShowVersions:
    """The show's versions now. After the first read, a version is noticed by its history file
    (the create-only claim every write makes first), so an unchanged show costs one small probe."""
    layout = ShowLayout(show)
    if last is None:
        registry = load_registry(storage, show)
    else:
        version = last.version
        while storage.exists(layout.history_key(version + 1)):
            version += 1
        registry = load_version(storage, show, version) if version != last.version else None
    head = last.model_dump() if registry is None else {
        "version": registry.version, "updated_by": registry.updated_by, "updated_at": registry.updated_at,
        "reason": registry.reason, "change": registry.change}
    return ShowVersions(**{**head, "show": show, "numbers_version": table_version(storage, show)})


@dataclass
class _Feed:
    state: ShowVersions | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    followers: int = 0
    task: asyncio.Task | None = None

    def publish(self, state: ShowVersions) -> None:
        self.state = state
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()


class ShowWatch:
    """One reader per followed show, shared by every page that follows it."""

    def __init__(self, storage: Storage, poll_s: float):
        self.storage = storage
        self.poll_s = poll_s
        self._feeds: dict[str, _Feed] = {}

    @property
    def followed_shows(self) -> int:
        return len(self._feeds)

    async def follow(self, show: str) -> AsyncIterator[ShowVersions]:
        """The show's versions now, then each change, for as long as the caller reads."""
        feed = self._feeds.get(show)
        if feed is None:
            feed = self._feeds[show] = _Feed()
            feed.task = asyncio.create_task(self._read(show, feed))
        feed.followers += 1
        try:
            sent = None
            while True:
                changed = feed.changed
                if feed.state is not None and feed.state != sent:
                    sent = feed.state
                    yield sent
                await changed.wait()
        finally:
            feed.followers -= 1
            if feed.followers == 0 and self._feeds.get(show) is feed:
                del self._feeds[show]
                if feed.task is not None:
                    feed.task.cancel()

    async def _read(self, show: str, feed: _Feed) -> None:
        while True:
            try:
                state = await asyncio.to_thread(read_versions, self.storage, show, feed.state)
                if state != feed.state:
                    feed.publish(state)
            except asyncio.CancelledError:
                raise
            except Exception:  # a storage hiccup (S3), or a table being replaced: try again
                log.exception("reading the people versions of %s failed", show)
            await asyncio.sleep(self.poll_s)


def get_watch(request: Request, reader: ReaderDep, settings: SettingsDep) -> ShowWatch:
    """The app's one ShowWatch, made on first use (it reads the storage the people routes read)."""
    watch = getattr(request.app.state, "show_watch", None)
    if watch is None:
        watch = request.app.state.show_watch = ShowWatch(reader.storage, max(settings.poll_s, 0.5))
    return watch


WatchDep = Annotated[ShowWatch, Depends(get_watch)]


async def _events(versions: AsyncIterator[ShowVersions]) -> AsyncIterator[ServerSentEvent]:
    async for state in versions:
        numbers = "" if state.numbers_version is None else state.numbers_version
        yield ServerSentEvent(data=state.model_dump_json(), event="versions", id=f"{state.version}.{numbers}")


@router.get(
    "/shows/{show}/events", summary="A show's people versions as Server-Sent Events (live pages)",
    response_class=EventSourceResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description":
              "`event: versions`, `data: {show, version, numbers_version, updated_by, updated_at, reason, "
              "change}`: at once, then whenever an edit, a link or a recount changes either version; "
              "heartbeat comments while idle."},
        422: {"model": ValidationErrorResponse},
        429: {"model": ErrorResponse, "description": "The client already holds its limit of open streams"},
    },
)
async def get_show_events(show: ShowDep, watch: WatchDep, settings: SettingsDep, _slot: StreamSlot):
    return EventSourceResponse(_events(watch.follow(show)), ping=settings.heartbeat_s, send_timeout=SEND_TIMEOUT_S)
