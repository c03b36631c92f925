"""Ending a run that failed, was cancelled or died: the one way, whoever notices it.

The analysis step (its own failure), the run status sensors (a run that died or failed in another
step, or was cancelled) and `screentime run` (after an in-process run failed) all call
`end_failed_run`, which does the same three things in the same order:

1. remove the run's partial files (first: on a full disk, that makes the room to write its end);
2. end the run's progress with an `error` record, unless it has ended already;
3. count the failure in the episode's ledger (once per run; not a cancel, nor a kind in
   `NOT_COUNTED` such as a refused duplicate or a dead process).

A step that cannot be done (the storage that failed the run is still away) does not stop the
next: each one's problem is returned, and the next run of the episode removes what is left.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from screentime.analysis.publish import discard_run
from screentime.contracts.episode import EpisodeId
from screentime.contracts.progress import ProgressRecord
from screentime.library.failures import NOT_COUNTED, Decision, record_failed_run
from screentime.progress.store import ProgressStore
from screentime.storage import Storage


@dataclass
class FailedRunEnd:
    """What `end_failed_run` did."""

    removed: int | None = None  # partial objects removed; None when they could not be
    progress: ProgressRecord | None = None  # the `error` record written; None when the run had ended
    decision: Decision | None = None  # the episode's retry decision; None when not counted
    problems: list[str] = field(default_factory=list)  # each step that could not be done, and why


def end_failed_run(
    storage: Storage, ep: EpisodeId, run_id: str, error_type: str, message: str, *,
    video: str = "", counted: bool = True, ended_at: datetime | None = None,
    end_progress: Callable[[], ProgressRecord | None] | None = None,
) -> FailedRunEnd:
    """End run `run_id` of `ep`, which failed with `error_type: message` (see the module).

    `video` is the run's configured video (for the ledger); `counted=False` for a cancelled run;
    `end_progress` writes the `error` record another way (the analysis step logs it, so its
    progress logger writes it and `screentime run` prints it); by default it is written here."""
    end = FailedRunEnd()
    try:
        end.removed = discard_run(storage, ep, run_id)
    except Exception as exc:
        end.problems.append(f"its partial files could not be removed ({type(exc).__name__}: {exc})")
    try:
        end.progress = (end_progress() if end_progress is not None
                        else ProgressStore(storage).close_run(ep, run_id, error_type, message, ended_at))
    except Exception as exc:
        end.problems.append(f"its progress could not be ended ({type(exc).__name__}: {exc})")
    if counted and error_type not in NOT_COUNTED:
        try:
            end.decision = record_failed_run(storage, ep, run_id, video, error_type, message)
        except Exception as exc:
            end.problems.append(f"its failure could not be counted ({type(exc).__name__}: {exc})")
    return end
