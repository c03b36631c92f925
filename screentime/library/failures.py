"""Failed episodes: how often each failed on its current video file, and whether to try again.

Each failed run of an episode adds a failure to the episode's ledger, `failures.json` beside its
manifest, with the fingerprint (size + mtime) of the video it failed on. Whatever would request a
run of an episode that has failures (the discovery sensor, the nightly schedule) asks `decide`
first: a failed episode is retried after a backoff that doubles each time, up to
`max_attempts` runs of one file, then it is quarantined with the last failure as its reason.
A new file (another fingerprint) starts the count again, as does `screentime retry EP`, which
lifts the quarantine and keeps the earlier failures for the record. A published manifest clears
the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from screentime.contracts.episode import EpisodeId
from screentime.contracts.errors import InvalidOption
from screentime.contracts.layout import ARTIFACTS, FAILURES_FILE, EpisodeLayout, episode_of_key
from screentime.contracts.progress import utc_now
from screentime.library.discovery import video_fingerprint
from screentime.library.sources import default_video_path
from screentime.storage import Storage

# Failures that say nothing about the episode's file: a refused duplicate run, a launcher's bad
# option or partition key, a run whose whole process died (`screentime run` or its run worker
# killed). They are not counted (the sensor and schedule launch with defaults). A step process that
# died (the analysis out of memory: ChildProcessCrashException) is counted.
NOT_COUNTED = ("EpisodeBusy", "InvalidOption", "InvalidEpisodeId", "RunWorkerDied")
MAX_ATTEMPTS_ENV = "SCREENTIME_MAX_ATTEMPTS"
BACKOFF_ENV = "SCREENTIME_RETRY_BACKOFF_S"


class Failure(BaseModel):
    run_id: str
    at: str = Field(description="when the run failed, ISO 8601 UTC")
    error_type: str
    message: str


class FailureLedger(BaseModel):
    ep_id: str
    fingerprint: str = Field("", description="size-mtime of the video the failures happened on; '' unknown")
    failures: list[Failure] = Field(default_factory=list)
    lifted_after: int = Field(0, description="failures before this index were lifted by `screentime retry`")

    @property
    def counted(self) -> list[Failure]:
        """The failures that count towards quarantine (those since the last lift)."""
        return self.failures[self.lifted_after:]

    def applies_to(self, fingerprint: str) -> bool:
        """Whether these failures were on this file (an unknown fingerprint on either side: yes)."""
        return not self.fingerprint or not fingerprint or self.fingerprint == fingerprint


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3  # runs of one file, the first included, before it is quarantined
    backoff_s: float = 600.0  # wait after the first failure; doubles after each further one

    def __post_init__(self) -> None:
        if not 1 <= self.max_attempts <= 100:
            raise InvalidOption(f"{MAX_ATTEMPTS_ENV} must be a whole number from 1 to 100, got {self.max_attempts}")
        if not 0 <= self.backoff_s <= 30 * 86400:
            raise InvalidOption(f"{BACKOFF_ENV} must be seconds from 0 to 2592000 (30 days), got {self.backoff_s}")

    @classmethod
    def from_env(cls) -> RetryPolicy:
        """The policy the settings give (SCREENTIME_MAX_ATTEMPTS, SCREENTIME_RETRY_BACKOFF_S; their
        bounds and one-line errors are in screentime/contracts/settings.py)."""
        from screentime.contracts.settings import load_settings

        settings = load_settings()
        return cls(settings.max_attempts, settings.retry_backoff_s)

    def wait_after(self, failures: int) -> timedelta:
        return timedelta(seconds=self.backoff_s * 2 ** max(failures - 1, 0))


@dataclass(frozen=True)
class Decision:
    action: Literal["run", "wait", "quarantined"]
    reason: str
    failures: int = 0  # counted failures on this file
    not_before: datetime | None = None  # for "wait"

    @property
    def retry(self) -> bool:
        return self.action == "run" and self.failures > 0


def decide(ledger: FailureLedger | None, fingerprint: str, policy: RetryPolicy, now: datetime) -> Decision:
    """Whether an episode with this ledger, whose video now has `fingerprint`, may run now."""
    if ledger is None or not ledger.applies_to(fingerprint) or not ledger.counted:
        return Decision("run", "no failures on this file")
    counted = ledger.counted
    last = counted[-1]
    why = f"{last.error_type}: {last.message}"
    if len(counted) >= policy.max_attempts:
        return Decision("quarantined", f"quarantined after {len(counted)} failed runs; last: {why}", len(counted))
    not_before = _parse_time(last.at) + policy.wait_after(len(counted))
    if now < not_before:
        return Decision("wait", f"failed {len(counted)} of {policy.max_attempts} attempts; next try after "
                        f"{not_before.isoformat(timespec='seconds')}; last: {why}", len(counted), not_before)
    return Decision("run", f"retry {len(counted) + 1} of {policy.max_attempts}; last: {why}", len(counted))


def _parse_time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime.fromtimestamp(0, timezone.utc)  # unreadable: the backoff is over


class FailureLedgers:
    """The episodes' ledgers in storage (local disk or S3, beside each manifest)."""

    def __init__(self, storage: Storage):
        self.storage = storage

    @staticmethod
    def key(ep: EpisodeId) -> str:
        return EpisodeLayout(ep).failures_key

    def read(self, ep: EpisodeId) -> FailureLedger | None:
        try:
            return FailureLedger.model_validate_json(self.storage.get_text(self.key(ep)))
        except FileNotFoundError:
            return None
        except (ValidationError, ValueError):
            return None  # an unreadable ledger counts as none: the episode is tried again

    def record(self, ep: EpisodeId, run_id: str, fingerprint: str, error_type: str, message: str,
               at: str | None = None) -> FailureLedger:
        """Add a run's failure (once per run); failures on another file are dropped first."""
        ledger = self.read(ep)
        if ledger is None or not ledger.applies_to(fingerprint):
            ledger = FailureLedger(ep_id=str(ep), fingerprint=fingerprint)
        if any(f.run_id == run_id for f in ledger.failures):
            return ledger
        ledger.fingerprint = ledger.fingerprint or fingerprint
        ledger.failures.append(Failure(run_id=run_id, at=at or utc_now(), error_type=error_type,
                                       message=message.strip().splitlines()[0][:500] if message.strip() else ""))
        self._write(ep, ledger)
        return ledger

    def lift(self, ep: EpisodeId) -> FailureLedger | None:
        """Forgive the failures so far (`screentime retry`); None when the episode has none."""
        ledger = self.read(ep)
        if ledger is None or not ledger.counted:
            return None
        ledger.lifted_after = len(ledger.failures)
        self._write(ep, ledger)
        return ledger

    def clear(self, ep: EpisodeId) -> None:
        """The episode succeeded: its failures are history."""
        self.storage.delete(self.key(ep))

    def episodes(self) -> list[EpisodeId]:
        """Every episode that has a ledger (one listing of the manifests prefix)."""
        keys = self.storage.list_keys(f"{ARTIFACTS}/manifests/")
        return sorted(ep for key in keys if (ep := episode_of_key(key, (FAILURES_FILE,))) is not None)

    def _write(self, ep: EpisodeId, ledger: FailureLedger) -> None:
        self.storage.put_text(self.key(ep), ledger.model_dump_json(indent=2), "application/json")


def record_failed_run(storage: Storage, ep: EpisodeId, run_id: str, video: str, error_type: str, message: str,
                      policy: RetryPolicy | None = None) -> Decision:
    """Add a failed run to the episode's ledger, against the video it ran on (`video` as the run
    config gave it; empty: the videos root's file). Returns what now holds for the episode; a
    failure of a kind in NOT_COUNTED is not added."""
    location = video or default_video_path(ep) or ""
    current = video_fingerprint(location) if location else ""
    ledgers = FailureLedgers(storage)
    ledger = ledgers.read(ep) if error_type in NOT_COUNTED else ledgers.record(ep, run_id, current, error_type, message)
    return decide(ledger, current, policy or RetryPolicy.from_env(), datetime.now(timezone.utc))


def current_fingerprint(ep: EpisodeId) -> str:
    """The fingerprint of the episode's file in the videos root ('' when there is none)."""
    location = default_video_path(ep)
    return video_fingerprint(location) if location else ""
