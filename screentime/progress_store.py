"""Progress files through the storage layer: progress.json (latest, atomic) + progress.jsonl (history).

Several processes of one run may write (Dagster's multiprocess executor runs each step in its
own process), so `write` keeps `seq` and `ratio` monotone against what is already stored for the
same run, rather than trusting each writer's own counter.
"""

from __future__ import annotations

import json
import threading

from screentime.episode import EpisodeId, parse_episode_id
from screentime.layout import EpisodeLayout
from screentime.progress import ProgressRecord
from screentime.storage import Storage


class ProgressStore:
    def __init__(self, storage: Storage):
        self.storage = storage
        self._lock = threading.Lock()

    def latest(self, ep: EpisodeId) -> ProgressRecord | None:
        try:
            return ProgressRecord.model_validate_json(self.storage.get_text(EpisodeLayout(ep).progress_key))
        except FileNotFoundError:
            return None

    def history(self, ep: EpisodeId, run_id: str | None = None) -> list[ProgressRecord]:
        """Every record of the episode's latest run (or of `run_id`), oldest first."""
        try:
            text = self.storage.get_text(EpisodeLayout(ep).progress_history_key)
        except FileNotFoundError:
            return []
        records = []
        for line in text.splitlines():
            if line.strip():
                try:
                    records.append(ProgressRecord.model_validate_json(line))
                except ValueError:
                    continue  # a torn last line from a crashed writer
        if run_id is None and records:
            run_id = records[-1].run_id
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
                if updates:
                    record = record.model_copy(update=updates)
            line = record.model_dump_json()
            self.storage.put_text(layout.progress_key, line, "application/json")
            self.storage.append_text(layout.progress_history_key, line + "\n")
        return record
