"""One reader per followed run, shared by every client that follows it.

A run's records are read from storage (progress.json to notice a change, progress.jsonl for the
records) by a single polling task, however many clients follow it, so 200 browsers on one episode
cost one small read every `poll_s` rather than 200. Clients then get the records after the last
one they saw, in `seq` order, and stop after the terminal one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from screentime.contracts.episode import EpisodeId
from screentime.contracts.progress import ProgressRecord
from screentime.progress.store import ProgressStore, UnreadableProgress

log = logging.getLogger(__name__)
# Re-read the history now and then even when progress.json did not change: a run closed by the
# failure sensor while another run owns progress.json only appends its end to the history.
FULL_READ_EVERY_S = 5.0


@dataclass
class _Feed:
    records: list[ProgressRecord] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    followers: int = 0
    task: asyncio.Task | None = None

    @property
    def ended(self) -> bool:
        return bool(self.records) and self.records[-1].terminal

    def publish(self, records: list[ProgressRecord]) -> None:
        self.records = records
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()


class ProgressHub:
    def __init__(self, store: ProgressStore, poll_s: float):
        self.store = store
        self.poll_s = poll_s
        self._feeds: dict[tuple[EpisodeId, str], _Feed] = {}

    @property
    def followed_runs(self) -> int:
        """Runs with at least one follower (each has one reading task)."""
        return len(self._feeds)

    async def follow(self, ep: EpisodeId, run_id: str, after_seq: int = 0) -> AsyncIterator[ProgressRecord]:
        """The run's records with seq > after_seq as they are written, up to the terminal one."""
        key = (ep, run_id)
        feed = self._feeds.get(key)
        if feed is None:
            feed = self._feeds[key] = _Feed()
            feed.task = asyncio.create_task(self._read(ep, run_id, feed))
        feed.followers += 1
        try:
            sent = after_seq
            while True:
                changed = feed.changed
                for record in [r for r in feed.records if r.seq > sent]:
                    yield record
                    sent = record.seq
                    if record.terminal:
                        return
                await changed.wait()
        finally:
            feed.followers -= 1
            if feed.followers == 0 and self._feeds.get(key) is feed:
                del self._feeds[key]
                if feed.task is not None:
                    feed.task.cancel()

    async def _read(self, ep: EpisodeId, run_id: str, feed: _Feed) -> None:
        seen: tuple | None = None
        last_full = 0.0
        while not feed.ended:
            try:
                try:
                    latest = await asyncio.to_thread(self.store.latest, ep)
                except UnreadableProgress:  # nothing to notice a change by: read the run's history each poll
                    latest, seen = None, ()
                marker = None if latest is None else (latest.run_id, latest.seq, latest.phase)
                have = feed.records[-1].seq if feed.records else 0
                # progress.json is written before the history line: keep reading until it shows up.
                behind = latest is not None and latest.run_id == run_id and latest.seq > have
                if marker != seen or behind or time.monotonic() - last_full > FULL_READ_EVERY_S:
                    records = await asyncio.to_thread(self.store.history, ep, run_id)
                    last_full, seen = time.monotonic(), marker
                    if records and (records[-1].seq != have or not feed.records):
                        feed.publish(records)
            except asyncio.CancelledError:
                raise
            except Exception:  # storage hiccup (e.g. S3): keep the followers and try again
                log.exception("reading progress of %s run %s failed", ep, run_id)
            if not feed.ended:
                await asyncio.sleep(self.poll_s)
