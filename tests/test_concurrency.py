"""The shipped dagster.yaml: the run queue, one run per episode, and the `gpu` pool."""

import os
import shutil
import signal
import subprocess
import sys
import time
from importlib import resources

import dagster as dg
import pytest

from screentime.pipelines.backfills import write_workspace
from screentime.pipelines.concurrency import ensure_pool_limits
from screentime.pipelines.definitions import defs


def test_the_template_instance_queues_runs_within_limits(tmp_path):
    with resources.as_file(resources.files("screentime.pipelines").joinpath("dagster.yaml")) as template:
        shutil.copy(template, tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)
        config = instance.get_concurrency_config()
        queue = config.run_queue_config
        assert queue.max_concurrent_runs == 4
        assert queue.tag_concurrency_limits == [
            {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]
        assert config.pool_config.default_pool_limit == 1
        assert config.pool_config.pool_granularity.value == "run"  # a step never waits on a slot
        assert instance.event_log_storage.supports_global_concurrency_limits  # slots are enforced
        # Dagster's run monitoring (stuck starts and cancels, slots of finished runs); a run whose
        # process died is failed by the code server or the episode_run_monitor sensor (test_dead_runs.py).
        assert instance.run_monitoring_enabled and instance.run_monitoring_max_resume_run_attempts == 0


def test_only_the_analysis_step_is_in_the_gpu_pool():
    job = defs.resolve_job_def("episode_job")
    pools = {node.name: node.definition.pool for node in job.graph.node_dict.values()}
    checks = {"detections_boxes_inside_frame", "tracks_tracks_within_episode", "people_every_track_one_person",
              "screentime_within_episode_length"}  # Dagster's asset checks, each a step of its own
    assert pools == {"episode_analysis": "gpu", "embeddings": None, "people": None, "screentime": None,
                     "manifests": None, **dict.fromkeys(checks)}  # the identity steps and checks: outside the pool


def _analysis_window(instance: dg.DagsterInstance, run_id: str) -> tuple[float, float]:
    times = {record.dagster_event.event_type_value: record.timestamp for record in instance.all_logs(run_id)
             if record.dagster_event and record.step_key == "episode_analysis"
             and record.dagster_event.event_type_value in ("STEP_START", "STEP_SUCCESS")}
    return times["STEP_START"], times["STEP_SUCCESS"]


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def test_the_gpu_pool_limit_exists_before_any_run_and_a_hand_set_one_is_kept(tmp_path):
    with resources.as_file(resources.files("screentime.pipelines").joinpath("dagster.yaml")) as template:
        shutil.copy(template, tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        ensure_pool_limits(instance)
        assert {p.name: p.limit for p in instance.event_log_storage.get_pool_limits()} == {"gpu": 1}
        instance.event_log_storage.set_concurrency_slots("gpu", 3)  # `dagster instance concurrency set gpu 3`
        ensure_pool_limits(instance)
        assert {p.name: p.limit for p in instance.event_log_storage.get_pool_limits()} == {"gpu": 3}


@pytest.mark.slow
def test_the_daemon_runs_sensor_and_backfill_runs_within_the_limits(tmp_path, carphone):
    """The real daemon on the shipped dagster.yaml, on a fresh instance: the sensor finds two
    episodes, then a backfill asks for the same two; four runs, each episode's two one after the
    other, one analysis at a time (from the very first batch on)."""
    videos = tmp_path / "videos" / "show"
    videos.mkdir(parents=True)
    for name in ("s01e01.mp4", "s01e02.mp4"):
        shutil.copy(carphone, videos / name)
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "SCREENTIME_DATA_DIR": str(tmp_path / "data"),
           "SCREENTIME_VIDEOS_DIR": str(tmp_path / "videos"), "STORAGE_BACKEND": "local"}
    (tmp_path / "home").mkdir()
    with resources.as_file(resources.files("screentime.pipelines").joinpath("dagster.yaml")) as template:
        shutil.copy(template, tmp_path / "home" / "dagster.yaml")
    bin_dir = os.path.dirname(sys.executable)
    log = tmp_path / "daemon.log"
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]):
        pass  # its SQLite storage is made here, before the daemon: two processes making a fresh one race
        #       ("table alembic_version already exists" killed the daemon once in CI, so it made no runs)
    with open(log, "wb") as handle:  # read back when a wait times out: why the daemon did not act
        workspace = str(write_workspace(tmp_path))
        daemon = subprocess.Popen([os.path.join(bin_dir, "dagster-daemon"), "run", "-w", workspace], env=env,
                                  stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
            episode_runs = dg.RunsFilter(job_name="episode_job")  # not the show roll-ups they cause
            # Generous: the daemon first starts a code server that imports torch, and CI runs other
            # daemons beside this one (a timeout says what the sensor and the daemon did).
            wait_until(lambda: len(instance.get_runs(episode_runs)) >= 2, "the sensor's two runs", 420,
                       explain=lambda: daemon_report(instance, log))
            assert len(instance.get_runs(episode_runs)) == 2, daemon_report(instance, log)
            queued = subprocess.run([os.path.join(bin_dir, "screentime"), "backfill", "show", "--season", "1"],
                                    env=env, capture_output=True, text=True, timeout=120)
            assert queued.returncode == 0, queued.stderr
            runs = wait_until(lambda: (r := instance.get_runs(episode_runs)) and len(r) == 4
                              and all(run.is_finished for run in r) and r, "four finished runs",
                              explain=lambda: daemon_report(instance, log))
            assert [run.status for run in runs] == [dg.DagsterRunStatus.SUCCESS] * 4
            by_episode = {}
            for run in runs:
                record = instance.get_run_record_by_id(run.run_id)
                by_episode.setdefault(run.tags["dagster/partition"], []).append(
                    (record.start_time, record.end_time))
            assert sorted(by_episode) == ["show-s01e01", "show-s01e02"]
            assert not any(_overlap(*spans) for spans in by_episode.values())  # one run per episode
            windows = [_analysis_window(instance, run.run_id) for run in runs]
            assert not any(_overlap(a, b) for i, a in enumerate(windows) for b in windows[i + 1:])  # gpu pool
    finally:
        os.killpg(daemon.pid, signal.SIGKILL)  # the daemon and the code server it started
        daemon.wait(10)


def wait_until(condition, what: str, timeout_s: float = 300, explain=lambda: ""):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}\n{explain()}")


def daemon_report(instance: dg.DagsterInstance, log) -> str:
    """The discovery sensor's last ticks (status, skip reason, error) and the daemon's log tail."""
    lines = []
    for state in instance.all_instigator_state():
        for tick in instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=3):
            error = tick.error.message.strip() if tick.error else ""
            lines.append(f"{state.name}: {tick.status.value} {tick.skip_reason or ''} {error}".rstrip())
    runs = [(r.job_name, r.status.value, r.tags.get("dagster/partition")) for r in instance.get_runs()]
    return "\n".join(["ticks:", *lines, f"runs: {runs}", "daemon log:", log.read_text(errors="replace")[-4000:]])
