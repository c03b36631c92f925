"""Failed episodes over two nights: the real discovery sensor, nightly schedule and failure sensor
evaluated as the daemon evaluates them, real runs of the job on a real instance, a `screentime run`
racing the sensor's first run, a `screentime backfill`, and `screentime status` / `screentime
retry` in between. A corrupt episode is retried a bounded number of times, then quarantined with
its reason; good episodes are analysed exactly once; a retry or a new file lifts the quarantine.
(Two CLI runs of one episode racing, and the daemon's queue with sensor and backfill runs:
tests/test_review_defects.py and tests/test_concurrency.py.)"""

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone

import dagster as dg
import pytest

from screentime.cli.main import main
from screentime.contracts.names import EPISODE_JOB, QUARANTINED_TAG
from screentime.contracts.run_config import episode_run_config
from screentime.pipelines.progress_sensors import episode_progress_on_failure
from screentime.pipelines.schedules import nightly_catch_up
from screentime.pipelines.sensors import episode_discovery
from screentime.resources import StorageResource
from tests.dagster_helpers import local_defs
from tests.live_servers import wait_for
from tests.test_seasons import SYNCHRONOUS_INSTANCE

SHOW = "night"
GOOD = [f"{SHOW}-s01e0{n}" for n in range(1, 6)]
BAD = f"{SHOW}-s01e06"
RUN_KEY = "dagster/run_key"


@pytest.fixture
def library(tmp_path, carphone, truncated_video, monkeypatch):
    videos = tmp_path / "videos" / SHOW
    videos.mkdir(parents=True)
    for ep in GOOD:
        shutil.copy(carphone, videos / f"{ep[len(SHOW) + 1:]}.mp4")
    shutil.copy(truncated_video, videos / "s01e06.mp4")
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(SYNCHRONOUS_INSTANCE)  # `screentime backfill` runs without a daemon
    for name, value in {"SCREENTIME_VIDEOS_DIR": str(tmp_path / "videos"), "DAGSTER_HOME": str(home),
                        "SCREENTIME_DATA_DIR": str(tmp_path / "data"), "STORAGE_BACKEND": "local",
                        "SCREENTIME_MAX_ATTEMPTS": "3", "SCREENTIME_RETRY_BACKOFF_S": "0"}.items():
        monkeypatch.setenv(name, value)
    storage = StorageResource(backend="local", data_dir=str(tmp_path / "data"))
    with dg.DagsterInstance.get() as instance:
        yield Daemon(instance, storage, local_defs(tmp_path / "data")), videos


class Daemon:
    """What the Dagster daemon does with the sensor's and schedule's requests, in this process:
    add partitions, skip a run key already used, run the job, and hand failed runs to the failure
    sensor."""

    def __init__(self, instance, storage, defs):
        self.instance, self.storage, self.defs = instance, storage, defs
        self.cursor = None

    def sensor_tick(self) -> dg.SensorResult:
        context = dg.build_sensor_context(instance=self.instance, cursor=self.cursor,
                                          resources={"storage": self.storage})
        result = episode_discovery(context)
        for request in result.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        self.cursor = result.cursor
        self.launch(result.run_requests or [])
        return result

    def schedule_tick(self, night: datetime) -> list[dg.RunRequest]:
        context = dg.build_schedule_context(instance=self.instance, scheduled_execution_time=night,
                                            resources={"storage": self.storage})
        result = nightly_catch_up(context)
        requests = [] if isinstance(result, dg.SkipReason) else list(result)
        self.launch(requests)
        return requests

    def launch(self, requests: list[dg.RunRequest]) -> None:
        for request in requests:
            if self.instance.get_runs(dg.RunsFilter(tags={RUN_KEY: request.run_key})):
                continue  # the daemon launches a run key once
            result = self.defs.resolve_job_def(EPISODE_JOB).execute_in_process(
                run_config=episode_run_config(), instance=self.instance, partition_key=request.partition_key,
                tags={**request.tags, RUN_KEY: request.run_key}, raise_on_error=False)
            if not result.success:
                context = dg.build_run_status_sensor_context(
                    sensor_name=episode_progress_on_failure.name, dagster_event=result.get_run_failure_event(),
                    dagster_instance=self.instance, dagster_run=self.instance.get_run_by_id(result.run_id),
                    resources={"storage": self.storage},
                ).for_run_failure()
                episode_progress_on_failure(context)

    def analyses(self, ep_id: str) -> list[str]:
        """The runs that analysed the episode (materialised its detections)."""
        records = self.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("detections"), asset_partitions=[ep_id]), limit=100).records
        return [record.run_id for record in records]

    def runs(self, ep_id: str) -> list[dg.DagsterRun]:
        return list(reversed(self.instance.get_runs(dg.RunsFilter(tags={"dagster/partition": ep_id}))))


def status(capsys) -> dict[str, dict]:
    capsys.readouterr()
    assert main(["status", SHOW, "--json"]) == 0
    return {row["ep_id"]: row for row in json.loads(capsys.readouterr().out)}


def screentime(*args: str) -> subprocess.Popen:
    exe = os.path.join(os.path.dirname(sys.executable), "screentime")
    return subprocess.Popen([exe, *args], env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_two_nights_with_a_corrupt_episode_end_quarantined_and_every_good_one_analysed_once(library, capsys):
    daemon, videos = library
    racing = screentime("run", str(videos / "s01e01.mp4"), "--ep-id", GOOD[0], "--quiet")  # with the sensor's run
    wait_for(lambda: racing.poll() is not None or any(run.status == dg.DagsterRunStatus.STARTED
                                                      for run in daemon.runs(GOOD[0])), 120, 0.05, "the CLI's run")
    first = daemon.sensor_tick()  # while the CLI's run goes: the sensor's run of GOOD[0] must not double it
    assert racing.wait(300) in (0, 1)
    if racing.returncode == 1:  # it lost the race: refused, not a second analysis
        assert "already being analysed" in racing.stderr.read()
    requested = {r.partition_key for r in first.run_requests}
    assert {*GOOD[1:], BAD} <= requested <= {*GOOD, BAD}  # GOOD[0] too, unless the CLI had already done it
    assert [run.status for run in daemon.runs(BAD)] == [dg.DagsterRunStatus.FAILURE]
    assert status(capsys)[BAD]["state"] == "failed"

    retry = daemon.sensor_tick()  # the same file, after its (zero) backoff: tried again, once
    assert [r.run_key.rsplit("#", 1)[1] for r in retry.run_requests] == ["try2"]
    night1 = daemon.schedule_tick(datetime(2026, 12, 1, 3, tzinfo=timezone.utc))
    assert [r.partition_key for r in night1] == [BAD]  # the third and last attempt
    for _ in range(3):
        assert not daemon.sensor_tick().run_requests
    assert daemon.schedule_tick(datetime(2026, 12, 2, 3, tzinfo=timezone.utc)) == []
    backfill = screentime("backfill", SHOW, "--season", "1", "--missing")  # a person's explicit retry
    assert backfill.wait(300) == 0, backfill.stderr.read()
    assert f"1 episode(s): {BAD}" in backfill.stderr.read()  # the good ones have manifests

    bad_runs = daemon.runs(BAD)
    assert len(bad_runs) == 4 and all(run.status == dg.DagsterRunStatus.FAILURE for run in bad_runs)
    assert "quarantined after 3 failed runs" in bad_runs[2].tags[QUARANTINED_TAG]  # shown in the UI
    for ep in GOOD:
        runs = daemon.runs(ep)
        statuses = [run.status for run in runs]
        analyses = daemon.analyses(ep)
        assert len(analyses) == 1, (ep, statuses)  # analysed exactly once, by a run that succeeded
        assert daemon.instance.get_run_by_id(analyses[0]).status == dg.DagsterRunStatus.SUCCESS
        refused = [run for run in runs if run.run_id not in analyses]
        assert len(refused) <= (1 if ep == GOOD[0] else 0), (ep, statuses)  # the race's loser, if it got a run
        for run in refused:  # whichever lost stopped as busy, or (the sensor's, after the CLI's publish) had
            logs = [str(event.dagster_event.event_specific_data) if event.dagster_event is not None  # nothing to do
                    and event.dagster_event.is_step_failure else event.user_message
                    for event in daemon.instance.all_logs(run.run_id)]
            assert any("already being analysed" in line or "nothing to do" in line for line in logs), run.run_id
    states = status(capsys)
    assert {ep: row["state"] for ep, row in states.items()} == {**{ep: "done" for ep in GOOD}, BAD: "quarantined"}
    assert "VideoError" in states[BAD]["detail"] and f"screentime retry {BAD}" in states[BAD]["detail"]

    # `screentime retry` lifts it: the sensor tries once more (its own run key), and it is counted anew.
    assert main(["retry", BAD]) == 0
    assert [r.run_key.rsplit("#", 1)[1] for r in daemon.sensor_tick().run_requests] == ["try5"]
    assert len(daemon.runs(BAD)) == 5 and status(capsys)[BAD]["state"] == "failed"

    # A new file lifts it too, and its success clears the ledger.
    shutil.copy(videos / "s01e01.mp4", videos / "s01e06.mp4")
    assert [r.partition_key for r in daemon.sensor_tick().run_requests] == [BAD]
    assert daemon.runs(BAD)[-1].status == dg.DagsterRunStatus.SUCCESS
    assert {row["state"] for row in status(capsys).values()} == {"done"}
    assert not daemon.sensor_tick().run_requests
    assert daemon.schedule_tick(datetime(2026, 12, 3, 3, tzinfo=timezone.utc)) == []


def test_status_and_retry_refuse_bad_names(library, capsys):
    assert main(["status", "Not A Show"]) == 2
    assert "invalid" in capsys.readouterr().err
    assert main(["retry", "night-s01"]) == 2
    assert main(["retry", BAD]) == 0 and "no failures to lift" in capsys.readouterr().err
