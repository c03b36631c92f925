"""The failure ledger and retry policy: bounded retries with a doubling backoff, quarantine, and
what lifts it (a new file, `screentime retry`, a success)."""

from datetime import datetime, timedelta, timezone

import pytest

from screentime.contracts.episode import parse_episode_id
from screentime.contracts.errors import InvalidOption
from screentime.library.failures import FailureLedgers, RetryPolicy, decide, record_failed_run
from screentime.storage import LocalStorage

EP = parse_episode_id("corrupt-s01e01")
POLICY = RetryPolicy(max_attempts=3, backoff_s=600)
T0 = datetime(2026, 12, 1, 3, 0, tzinfo=timezone.utc)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def ledgers(tmp_path) -> FailureLedgers:
    return FailureLedgers(LocalStorage(tmp_path))


def test_failures_are_retried_with_a_doubling_backoff_then_quarantined(ledgers):
    assert decide(ledgers.read(EP), "10-1", POLICY, T0).action == "run"
    ledger = ledgers.record(EP, "run1", "10-1", "VideoError", "cannot decode frame 0\ntraceback...", at=iso(T0))
    assert ledger.failures[0].message == "cannot decode frame 0"  # one line kept
    waiting = decide(ledger, "10-1", POLICY, T0 + timedelta(minutes=5))
    assert waiting.action == "wait" and waiting.not_before == T0 + timedelta(minutes=10)
    assert "VideoError: cannot decode frame 0" in waiting.reason
    retry = decide(ledger, "10-1", POLICY, T0 + timedelta(minutes=10))
    assert retry.action == "run" and retry.retry and "retry 2 of 3" in retry.reason

    t1 = T0 + timedelta(minutes=11)
    ledger = ledgers.record(EP, "run2", "10-1", "VideoError", "cannot decode frame 0", at=iso(t1))
    assert decide(ledger, "10-1", POLICY, t1 + timedelta(minutes=19)).action == "wait"  # 20 min now
    assert decide(ledger, "10-1", POLICY, t1 + timedelta(minutes=20)).action == "run"
    ledger = ledgers.record(EP, "run3", "10-1", "VideoError", "cannot decode frame 0", at=iso(t1))
    quarantined = decide(ledger, "10-1", POLICY, t1 + timedelta(days=30))
    assert quarantined.action == "quarantined" and "after 3 failed runs" in quarantined.reason
    assert ledgers.record(EP, "run3", "10-1", "X", "again").failures == ledger.failures  # once per run


def test_a_new_file_retry_or_success_lifts_the_quarantine(ledgers):
    for run in ("a", "b", "c"):
        ledgers.record(EP, run, "10-1", "VideoError", "bad", at=iso(T0))
    assert decide(ledgers.read(EP), "10-1", POLICY, T0).action == "quarantined"
    assert decide(ledgers.read(EP), "99-2", POLICY, T0).action == "run"  # the file was replaced

    lifted = ledgers.lift(EP)
    assert lifted.lifted_after == 3 and len(lifted.failures) == 3  # kept for the record
    assert decide(ledgers.read(EP), "10-1", POLICY, T0).action == "run"
    assert ledgers.lift(EP) is None  # nothing left to lift

    replaced = ledgers.record(EP, "d", "99-2", "OSError", "disk", at=iso(T0))
    assert [f.run_id for f in replaced.failures] == ["d"]  # failures on the old file are gone
    assert ledgers.episodes() == [EP]
    ledgers.clear(EP)
    assert ledgers.read(EP) is None and ledgers.episodes() == []
    ledgers.clear(EP)  # clearing twice is fine


def test_record_failed_run_fingerprints_the_video_it_ran_on(ledgers, tmp_path):
    video = tmp_path / "s01e01.mp4"
    video.write_bytes(b"not really a video")
    decision = record_failed_run(ledgers.storage, EP, "run1", str(video), "VideoError", "no frames", POLICY)
    assert decision.action == "wait"
    stat = video.stat()
    assert ledgers.read(EP).fingerprint == f"{stat.st_size}-{stat.st_mtime_ns}"


def test_an_unreadable_ledger_counts_as_none(ledgers, tmp_path):
    path = tmp_path / FailureLedgers.key(EP)
    path.parent.mkdir(parents=True)
    path.write_text("{torn")
    assert ledgers.read(EP) is None


@pytest.mark.parametrize("env, message", [
    ({"SCREENTIME_MAX_ATTEMPTS": "0"}, "from 1 to 100"),
    ({"SCREENTIME_MAX_ATTEMPTS": "three"}, "whole number"),
    ({"SCREENTIME_RETRY_BACKOFF_S": "-1"}, "seconds from 0"),
    ({"SCREENTIME_RETRY_BACKOFF_S": "nan"}, "seconds from 0"),
])
def test_a_bad_retry_setting_is_refused_with_its_name(monkeypatch, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(InvalidOption, match=message):
        RetryPolicy.from_env()


def test_failures_that_say_nothing_about_the_file_are_not_counted(ledgers, tmp_path):
    for error_type in ("EpisodeBusy", "InvalidOption", "InvalidEpisodeId"):
        assert record_failed_run(ledgers.storage, EP, "r", "", error_type, "no", POLICY).action == "run"
    assert ledgers.read(EP) is None
