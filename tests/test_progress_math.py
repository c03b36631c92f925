"""The progress record's arithmetic (ratio, fps, ETA) and how a run without its own end is closed."""

from datetime import datetime, timedelta, timezone

import pytest

from screentime.contracts.episode import parse_episode_id
from screentime.contracts.progress import ProgressRecord, utc_now
from screentime.progress.clock import ProgressClock
from screentime.progress.store import ProgressStore
from screentime.storage import LocalStorage

EP = parse_episode_id("carphone-s01e01")


class Ticks:
    """A clock that moves only when told: ETA arithmetic on exact numbers."""

    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_eta_at_start_is_unknown_not_a_division_by_zero():
    clock = ProgressClock("carphone-s01e01", "run1", "cpu", 100, clock=Ticks())
    first = clock.update("detecting", 0, force=True)
    assert first.ratio == 0 and first.fps == 0 and first.eta_seconds is None and first.seconds == 0


def test_no_frames_known_gives_no_ratio_and_no_eta():
    ticks = Ticks()
    clock = ProgressClock("carphone-s01e01", "run1", "cpu", 0, clock=ticks)
    ticks.now += 2
    record = clock.update("detecting", 0, force=True)
    assert record.ratio == 0 and record.eta_seconds is None


def test_eta_is_frames_left_over_the_rate_so_far():
    ticks = Ticks()
    clock = ProgressClock("carphone-s01e01", "run1", "cpu", 100, clock=ticks)
    ticks.now += 5
    record = clock.update("detecting", 25, force=True)
    assert record.fps == 5 and record.eta_seconds == 15 and record.ratio == 0.25


def test_ratio_never_decreases_and_stays_below_one():
    ticks = Ticks()
    clock = ProgressClock("carphone-s01e01", "run1", "cpu", 100, clock=ticks)
    ratios = []
    for frames in (10, 40, 30, 100, 120):  # a late, smaller count; then more frames than announced
        ticks.now += 1
        ratios.append(clock.update("detecting", frames, force=True).ratio)
    assert ratios == sorted(ratios) and max(ratios) < 1.0
    assert clock.frames_total == 120  # more frames than announced: the total follows


def test_updates_are_rate_limited_to_25_frames_or_one_second():
    ticks = Ticks()
    emitted = []
    clock = ProgressClock("carphone-s01e01", "run1", "cpu", 1000, emit=emitted.append, clock=ticks)
    clock.update("detecting", 0, force=True)
    for frame in range(1, 60):
        ticks.now += 0.01
        clock.update("detecting", frame)
    assert [r.frames_done for r in emitted] == [0, 25, 50]
    ticks.now += 1.0
    clock.update("detecting", 60)
    assert emitted[-1].frames_done == 60  # a slow stretch still reports every second


def record(run_id: str, seq: int, phase: str = "detecting", ratio: float = 0.5, **extra) -> ProgressRecord:
    return ProgressRecord(ep_id=str(EP), run_id=run_id, phase=phase, frames_done=50, frames_total=100,
                          ratio=ratio, device="cpu", seq=seq, updated_at=utc_now(), **extra)


@pytest.fixture
def store(tmp_path) -> ProgressStore:
    return ProgressStore(LocalStorage(tmp_path))


def test_close_run_ends_a_stuck_run_with_its_last_progress(store):
    store.write(record("run1", 1, ratio=0.2))
    store.write(record("run1", 2, ratio=0.6))
    ended = store.close_run(EP, "run1", "RunCanceled", "the run was cancelled")
    assert ended.phase == "error" and ended.seq == 3 and ended.ratio == 0.6 and ended.device == "cpu"
    assert store.latest(EP) == ended and store.history(EP, "run1")[-1] == ended
    assert store.close_run(EP, "run1", "RunFailure", "again") is None  # already ended: nothing more


def test_close_run_leaves_a_run_that_ended_itself(store):
    store.write(record("run1", 1))
    done = store.write(record("run1", 2, phase="done", ratio=1.0))
    assert store.close_run(EP, "run1", "RunFailure", "late") is None
    assert store.latest(EP) == done


def test_close_run_does_not_hide_another_run_in_progress(store):
    store.write(record("old", 1))
    running = store.write(record("new", 1))
    ended = store.close_run(EP, "old", "RunFailure", "worker died")
    assert store.latest(EP) == running  # progress.json stays the running run's
    assert store.history(EP, "old")[-1] == ended  # followers of the old run still see it end


def test_close_run_replaces_an_older_end_but_not_a_newer_one(store):
    store.write(record("earlier", 1, phase="done", ratio=1.0))
    ended = store.close_run(EP, "crashed", "RunFailure", "no record at all",
                            ended_at=datetime.now(timezone.utc) + timedelta(seconds=1))
    assert store.latest(EP) == ended and ended.seq == 1 and ended.ratio == 0
    later = store.write(record("later", 1, phase="done", ratio=1.0))
    store.close_run(EP, "stale", "RunFailure", "ended before `later` finished",
                    ended_at=datetime.now(timezone.utc) - timedelta(hours=1))
    assert store.latest(EP) == later


def test_an_error_record_keeps_the_runs_last_progress(store):
    store.write(record("run1", 1, ratio=0.6))  # 50 of 100 frames on cpu
    bare = ProgressRecord(ep_id=str(EP), run_id="run1", phase="error", device="auto", seq=1,
                          error_type="DagsterExecutionInterruptedError", error="interrupted")
    ended = store.write(bare)
    assert (ended.seq, ended.ratio, ended.frames_done, ended.frames_total, ended.device) == (2, 0.6, 50, 100, "cpu")


def test_each_run_keeps_its_own_history_in_its_run_folder(store, tmp_path):
    """A record's write cost does not grow with the episode's past runs (on S3 an append rewrites
    the object), and the history goes when a later run's publishing prunes the run folder."""
    for run_id in ("first", "second"):
        for seq in (1, 2):
            store.write(record(run_id, seq))
    folder = tmp_path / "artifacts/manifests/carphone/s01/e01"
    assert [len((folder / run / "progress.jsonl").read_text().splitlines()) for run in ("first", "second")] == [2, 2]
    assert not (folder / "progress.jsonl").exists()
    assert [r.run_id for r in store.history(EP)] == ["second", "second"]  # the latest run by default
    assert [r.seq for r in store.history(EP, "first")] == [1, 2]


def test_a_queued_run_can_be_polled_and_followed_before_it_writes_anything(store):
    store.write(record("before", 1, phase="done", ratio=1.0))
    queued = store.announce(EP, "launched")
    assert queued.phase == "queued" and queued.seq == 1 and store.latest(EP) == queued
    assert store.history(EP) == [queued]  # following "the latest run" now follows the new one
    started = store.write(record("launched", 1, phase="starting", ratio=0.0))
    assert started.seq == 2  # one stream of seqs, from queued on
    assert store.announce(EP, "launched") is None  # a late announcement changes nothing
    assert store.latest(EP) == started


def test_a_queued_run_does_not_hide_the_run_it_waits_for(store):
    running = store.write(record("running", 1))
    queued = store.announce(EP, "waiting")
    assert store.latest(EP) == running and store.history(EP, "waiting") == [queued]
