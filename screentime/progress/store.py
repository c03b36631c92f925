"""Progress files through the storage layer: progress.json (the episode's latest record, atomic) +
`<run_id>/progress.jsonl` (each run's history, in the run's folder of the manifests prefix).

A history per run keeps a record's write cost flat however often an episode is re-run (on S3 an
append reads and rewrites the object), and the history is pruned with its run folder when a later
run publishes.

Several processes of one run may write (Dagster's multiprocess executor runs each step in its
own process), so `write` keeps `seq` and `ratio` monotone against what is already stored for the
same run, rather than trusting each writer's own counter.

A progress.json that holds no record (bytes by hand, a torn copy, a 000 mode) is replaced by
the next write, atomically like any other (temp file + rename locally, one PUT on S3), with `seq`
and `ratio` kept monotone against the run's own history. A folder in its place is never removed
or moved (Screentime did not make it, and it may hold someone's files): reading and writing the
record refuse with `UnreadableProgress` naming it, the run's history is still appended.
"""

from __future__ import annotations

import threading
from datetime import datetime

from screentime.contracts.episode import EpisodeId, parse_episode_id
from screentime.contracts.errors import ScreentimeError
from screentime.contracts.layout import EpisodeLayout
from screentime.contracts.progress import ProgressRecord, utc_now
from screentime.storage import Storage


class UnreadableProgress(ScreentimeError, ValueError):
    """An episode's progress.json exists but holds no progress record (one line, names the key)."""

    def __init__(self, message: str, folder: bool = False):
        super().__init__(message)
        self.folder = folder  # a folder in the file's place: never replaced


class ProgressStore:
    def __init__(self, storage: Storage):
        self.storage = storage
        self._lock = threading.RLock()  # close_run holds it around write
        self._written: set[str] = set()  # runs this store (this process's writer) wrote records of

    def latest(self, ep: EpisodeId) -> ProgressRecord | None:
        """The episode's latest record; None when it has none. UnreadableProgress when its
        progress.json is not a record (the next write replaces it) or is a folder."""
        key = EpisodeLayout(ep).progress_key
        try:
            data = self.storage.get_bytes(key)
        except FileNotFoundError:
            return None
        except IsADirectoryError as exc:
            raise UnreadableProgress(
                f"{key} is a folder, not a progress record: move it away (Screentime never removes what it "
                "did not write); until then the episode's runs write their history only", folder=True) from exc
        except PermissionError as exc:
            raise UnreadableProgress(f"{key} cannot be read ({exc.strerror}): the next run replaces it") from exc
        try:
            return ProgressRecord.model_validate_json(data)
        except ValueError as exc:  # not JSON, not UTF-8, not a record
            raise UnreadableProgress(f"{key} is not a progress record ({len(data)} bytes that do not parse): "
                                     "the next run replaces it") from exc

    def history(self, ep: EpisodeId, run_id: str | None = None) -> list[ProgressRecord]:
        """Every record of the episode's latest run (or of `run_id`), oldest first."""
        if run_id is None:
            latest = self.latest(ep)
            if latest is None:
                return []
            run_id = latest.run_id
        try:  # bytes that are not UTF-8 spoil their own line only
            text = self.storage.get_bytes(EpisodeLayout(ep).progress_history_key(run_id)).decode("utf-8", "replace")
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

    def write(self, record: ProgressRecord) -> ProgressRecord | None:
        """Store a record of a run: progress.json and the run's history. Returns it as stored, or
        None for a superseded run: one this store has written for before whose progress.json
        another run has taken since with more than a `queued` record (so that run started, or
        ended, after it: the queued and closing records of other runs never displace a run in
        progress). Such a run is over for Dagster (an orphaned step of a run whose worker was
        killed): it writes nothing more, neither progress.json nor a history the next run pruned."""
        ep = parse_episode_id(record.ep_id)
        layout = EpisodeLayout(ep)
        with self._lock:
            unreadable = None
            try:
                previous = self.latest(ep)
            except UnreadableProgress as exc:  # replaced below; the run's own history keeps it monotone
                unreadable = exc
                own = self.history(ep, record.run_id)
                previous = own[-1] if own else None
            if (previous is not None and previous.run_id != record.run_id and previous.phase != "queued"
                    and record.run_id in self._written):
                return None  # superseded (see the docstring)
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
            self._written.add(record.run_id)
            line = record.model_dump_json()
            if unreadable is None or not unreadable.folder:
                self.storage.put_text(layout.progress_key, line, "application/json")  # atomic: temp + rename
            self.storage.append_text(layout.progress_history_key(record.run_id), line + "\n")
            if unreadable is not None and unreadable.folder:
                raise unreadable  # the history has the record; progress.json cannot have it
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
            except UnreadableProgress:
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
            try:
                latest = self.latest(ep)
            except UnreadableProgress:
                latest = None  # an unreadable record: this one replaces it
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
