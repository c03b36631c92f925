"""A season backfilled end to end through `screentime backfill` (a real Dagster job backfill).

The instance is a real on-disk one whose run launcher executes each run synchronously, so the
backfill has finished when the command returns: no daemon is needed, everything else is what
`make ui` users get (the job's partitioned config, one run per episode, the backfill record).
"""

import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone

import dagster as dg
import pytest

from screentime.analysis import versions
from screentime.assets.partitions import EPISODES
from screentime.contracts.errors import InvalidOption
from screentime.library.seasons import SeasonSelection, parse_seasons
from screentime.pipelines.schedules import nightly_catch_up, recorded_code_version
from screentime.resources import StorageResource

SYNCHRONOUS_INSTANCE = """
telemetry: {enabled: false}
run_coordinator: {module: dagster._core.run_coordinator, class: DefaultRunCoordinator}
run_launcher: {module: dagster._core.launcher.sync_in_memory_run_launcher, class: SyncInMemoryRunLauncher}
"""
MANIFEST = "artifacts/manifests/show/s01/{}/manifest.json"


def screentime(*args, env):
    exe = os.path.join(os.path.dirname(sys.executable), "screentime")
    return subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def season(tmp_path_factory, carphone, truncated_video):
    """Season 1 of `show`: e01 a real episode, e02 a corrupt file; s02e01 lies beside them."""
    root = tmp_path_factory.mktemp("season")
    (root / "home").mkdir()
    (root / "home" / "dagster.yaml").write_text(SYNCHRONOUS_INSTANCE)
    videos = root / "videos" / "show"
    videos.mkdir(parents=True)
    shutil.copy(carphone, videos / "s01e01.mp4")
    shutil.copy(truncated_video, videos / "s01e02.mp4")
    shutil.copy(carphone, videos / "s02e01.mp4")
    env = {**os.environ, "DAGSTER_HOME": str(root / "home"), "SCREENTIME_DATA_DIR": str(root / "data"),
           "SCREENTIME_VIDEOS_DIR": str(root / "videos"), "STORAGE_BACKEND": "local"}
    done = screentime("backfill", "show", "--season", "1", env=env)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
        with dg.DagsterInstance.get() as instance:
            yield root, env, done, instance


def test_a_season_backfill_runs_each_episode_and_the_corrupt_one_fails_alone(season):
    root, _, done, instance = season
    assert done.returncode == 0, done.stderr
    backfill_id = done.stdout.strip()
    assert "show, season 1: 2 episode(s): show-s01e01, show-s01e02" in done.stderr
    assert "filter 'show-s01e' > Select all" in done.stderr

    backfill = instance.get_backfill(backfill_id)
    assert backfill is not None and sorted(backfill.partition_names) == ["show-s01e01", "show-s01e02"]
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
    status = {run.tags["dagster/partition"]: run.status for run in runs}
    assert status == {"show-s01e01": dg.DagsterRunStatus.SUCCESS, "show-s01e02": dg.DagsterRunStatus.FAILURE}
    assert all(run.run_config["loggers"]["progress"] for run in runs)  # the job's partitioned config

    assert (root / "data" / MANIFEST.format("e01")).is_file()
    assert not (root / "data" / MANIFEST.format("e02")).exists()
    assert not (root / "data/artifacts/manifests/show/s02").exists()  # season 2 was not selected
    assert sorted(instance.get_dynamic_partitions(EPISODES)) == ["show-s01e01", "show-s01e02"]


def nightly_tick(instance, storage: StorageResource, night: datetime) -> list[dg.RunRequest]:
    """One evaluation of the real schedule, as the daemon does it at 03:00."""
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=night,
                                        resources={"storage": storage})
    result = nightly_catch_up(context)
    return [] if isinstance(result, dg.SkipReason) else list(result)


def test_the_nightly_schedule_asks_for_the_failed_episode_then_for_outdated_ones(season, monkeypatch):
    root, _, _, instance = season
    monkeypatch.setenv("SCREENTIME_RETRY_BACKOFF_S", "0")  # e02 failed moments ago (tests/test_failure_policy.py)
    storage = StorageResource(backend="local", data_dir=str(root / "data"))
    assert recorded_code_version(instance, "show-s01e01") == versions.analysis_code_version()
    requests = nightly_tick(instance, storage, datetime(2026, 1, 1, 3, tzinfo=timezone.utc))
    assert [(r.partition_key, r.tags["screentime/reason"]) for r in requests] == [("show-s01e02", "unprocessed")]
    assert requests[0].run_key == "show-s01e02:unprocessed:2026-01-01"

    # A detector, weights or tracker change is a new code version: e01's outputs are outdated.
    monkeypatch.setattr(versions, "ANALYSIS_REVISION", versions.ANALYSIS_REVISION + 1)
    versions.analysis_code_version.cache_clear()
    try:
        requests = nightly_tick(instance, storage, datetime(2026, 1, 2, 3, tzinfo=timezone.utc))
    finally:
        monkeypatch.undo()
        versions.analysis_code_version.cache_clear()
    assert {(r.partition_key, r.tags["screentime/reason"]) for r in requests} == {
        ("show-s01e01", "stale"), ("show-s01e02", "unprocessed")}


@pytest.mark.slow
def test_the_failed_episode_is_retried_alone(season, carphone):
    root, env, _, instance = season
    shutil.copy(carphone, root / "videos" / "show" / "s01e02.mp4")  # the corrupt file, replaced
    done = screentime("backfill", "show", "--season", "1", "--missing", env=env)
    assert done.returncode == 0, done.stderr
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": done.stdout.strip()}))
    assert [(run.tags["dagster/partition"], run.status) for run in runs] == [
        ("show-s01e02", dg.DagsterRunStatus.SUCCESS)]
    assert (root / "data" / MANIFEST.format("e02")).is_file()


def test_a_dry_run_lists_and_registers_nothing_and_bad_selections_are_one_line_errors(season):
    _, env, _, instance = season
    done = screentime("backfill", "show", "--season", "2", "--dry-run", env=env)
    assert done.returncode == 0 and "show, season 2: 1 episode(s): show-s02e01" in done.stderr
    assert sorted(instance.get_dynamic_partitions(EPISODES)) == ["show-s01e01", "show-s01e02"]
    done = screentime("backfill", "show", "--seasons", "7-9", env=env)
    assert done.returncode == 2 and "error: no episodes of show, seasons 7, 8, 9" in done.stderr
    done = screentime("backfill", "Show", "--season", "1", env=env)
    assert done.returncode == 2 and "invalid show slug" in done.stderr


def test_season_selection():
    assert parse_seasons("2") == (2,) and parse_seasons("1-3,5") == (1, 2, 3, 5)
    for bad in ("", "3-1", "two", "1-"):
        with pytest.raises(InvalidOption):
            parse_seasons(bad)
    keys = ["the-office-s01e02", "the-office-s02e01", "the-office-spin-off-s01e01", "the-office-s10e01", "x"]
    assert SeasonSelection("the-office", (1, 10)).select(keys) == ["the-office-s01e02", "the-office-s10e01"]
    assert SeasonSelection("the-office").ui_filters(keys) == ["the-office-s01e", "the-office-s02e", "the-office-s10e"]


def test_registering_an_episode_another_launcher_just_registered_is_not_an_error():
    """Two `screentime run` of one episode both found it unregistered, then both inserted it: the
    loser failed with a database traceback instead of the one-line 'already being analysed'. The
    race is replayed here on a real instance: the other launcher's insert lands first."""
    from sqlalchemy.exc import IntegrityError

    from screentime.pipelines.backfills import register_episodes

    with dg.instance_for_test() as instance:
        real_add = instance.add_dynamic_partitions
        calls = []

        def add_after_the_other_launcher(name, keys):
            calls.append(list(keys))
            if len(calls) == 1:
                real_add(name, ["show-s01e01"])  # the other launcher's insert wins
                raise IntegrityError("INSERT INTO dynamic_partitions", {}, Exception("UNIQUE constraint failed"))
            return real_add(name, keys)

        instance.add_dynamic_partitions = add_after_the_other_launcher
        assert register_episodes(instance, ["show-s01e01", "show-s01e02"]) == ["show-s01e02"]
        assert sorted(instance.get_dynamic_partitions(EPISODES)) == ["show-s01e01", "show-s01e02"]
