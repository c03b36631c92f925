"""Progress files through the storage layer: progress.json (the episode's latest record, atomic) +
`<run_id>/progress.jsonl` (each run's history, in the run's folder of the manifests prefix).

A history per run keeps a record's write cost flat however often an episode is re-run (on S3 an
append reads and rewrites the object), and the history is pruned with its run folder when a later
run publishes.

Several processes of one run may write (Dagster's multiprocess executor runs each step in its
own process), so `write` keeps `seq` and `ratio` monotone against what is already stored for the
same run, rather than trusting each writer's own counter.
"""

from __future__ import annotations

import threading
from datetime import datetime

from screentime.contracts.episode import EpisodeId, parse_episode_id
from screentime.contracts.layout import EpisodeLayout
from screentime.contracts.progress import ProgressRecord, utc_now
from screentime.storage import Storage


class ProgressStore:
    def __init__(self, storage: Storage):
        self.storage = storage
        self._lock = threading.RLock()  # close_run holds it around write

    def latest(self, ep: EpisodeId) -> ProgressRecord | None:
        try:
            return ProgressRecord.model_validate_json(self.storage.get_text(EpisodeLayout(ep).progress_key))
        except FileNotFoundError:
            return None

    def history(self, ep: EpisodeId, run_id: str | None = None) -> list[ProgressRecord]:
        """Every record of the episode's latest run (or of `run_id`), oldest first."""
        if run_id is None:
            latest = self.latest(ep)
            if latest is None:
                return []
            run_id = latest.run_id
        try:
            text = self.storage.get_text(EpisodeLayout(ep).progress_history_key(run_id))
        except FileNotFoundError:
            return []
        records = []
        for line in text.splitlines():
            if line.strip():
                try:
                    records.append(ProgressRecord.model_validate_json(line))
                except ValueError:
                    continue  # a torn last line from a crashed writer
        return [r for r in records if r.run_id == run_id]

    def write(self, record: ProgressRecord) -> ProgressRecord:
        ep = parse_episode_id(record.ep_id)
        layout = EpisodeLayout(ep)
        with self._lock:
            previous = self.latest(ep)
            if previous is not None and previous.run_id == record.run_id:
                if previous.terminal and not record.terminal:
                    return previous  # a late update after the run ended: keep the end
                updates = {}
                if record.seq <= previous.seq:
                    updates["seq"] = previous.seq + 1
                if record.ratio < previous.ratio:
                    updates["ratio"] = previous.ratio
                if record.phase == "error":  # an error raised far from the frame loop knows less
                    updates["frames_done"] = max(record.frames_done, previous.frames_done)
                    updates["frames_total"] = max(record.frames_total, previous.frames_total)
                    updates["device"] = previous.device or record.device
                if updates:
                    record = record.model_copy(update=updates)
            line = record.model_dump_json()
            self.storage.put_text(layout.progress_key, line, "application/json")
            self.storage.append_text(layout.progress_history_key(record.run_id), line + "\n")
        return record

    def announce(self, ep: EpisodeId, run_id: str) -> ProgressRecord | None:
        """A `queued` record for a run that is launched but has not started, so a client that
        launched it can poll or follow it at once. It replaces progress.json unless another run
        of the episode is still going (the queue holds this one back meanwhile; the live run stays
        visible), then it goes to this run's history only. Nothing is written for a run that has
        already written records. Returns the record written, if any."""
        with self._lock:
            if self.history(ep, run_id):
                return None
            record = ProgressRecord(ep_id=str(ep), run_id=run_id, phase="queued", updated_at=utc_now(), seq=1)
            try:
                latest = self.latest(ep)
            except ValueError:
                latest = None  # an unreadable record: this one replaces it
            if latest is None or latest.terminal or latest.run_id == run_id:
                return self.write(record)
            self.storage.append_text(EpisodeLayout(ep).progress_history_key(run_id), record.model_dump_json() + "\n")
            return record

    def close_run(
        self, ep: EpisodeId, run_id: str, error_type: str, message: str, ended_at: datetime | None = None
    ) -> ProgressRecord | None:
        """End a run that stopped without its own terminal record (cancelled, crashed) with `error`.

        Nothing is written when the run already ended. The record carries the run's last
        progress (ratio, frames, device). It replaces progress.json unless that belongs to another
        run that is still going or ended after `ended_at`; then it goes to the history only, so
        whoever follows this run still sees it end. Returns the record written, if any.
        """
        with self._lock:
            own = self.history(ep, run_id)
            if own and own[-1].terminal:
                return None
            last = own[-1] if own else None
            record = ProgressRecord(
                ep_id=str(ep), run_id=run_id, phase="error",
                frames_done=last.frames_done if last else 0, frames_total=last.frames_total if last else 0,
                ratio=last.ratio if last else 0.0, seconds=last.seconds if last else 0.0,
                fps=last.fps if last else 0.0, device=last.device if last else "",
                updated_at=utc_now(), seq=(last.seq if last else 0) + 1,
                error_type=error_type, error=message[:2000],
            )
            latest = self.latest(ep)
            if latest is None or latest.run_id == run_id or (latest.terminal and _older(latest, ended_at)):
                return self.write(record)
            self.storage.append_text(EpisodeLayout(ep).progress_history_key(run_id), record.model_dump_json() + "\n")
            return record


def _older(record: ProgressRecord, than: datetime | None) -> bool:
    if than is None:
        return True
    try:
        return datetime.fromisoformat(record.updated_at) <= than
    except ValueError:
        return True  # an unreadable timestamp: the run that just ended is the better news
