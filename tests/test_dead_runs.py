"""Runs whose process dies, and requests made while an episode is being analysed.

Real processes and a real on-disk Dagster instance (the shipped dagster.yaml): a `screentime run`
and a run worker (`dagster job execute`, the multiprocess executor: the analysis step in a process
of its own) killed with SIGKILL, the real `episode_run_monitor`, `episode_progress_on_failure`
and `episode_discovery` sensors evaluated against the instance as the daemon evaluates them. The
last test runs the real daemon (`slow`): the queue, the code server that fails a killed run
worker's run, and the sensors on their own schedule.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from importlib import resources
from pathlib import Path

import dagster as dg
import pytest
import yaml

from screentime.assets.guard import pid_gone, process_tag
from screentime.assets.partitions import EPISODES
from screentime.cli.main import main
from screentime.contracts.episode import parse_episode_id
from screentime.contracts.names import EPISODE_JOB, LAUNCHED_BY_TAG, PARTITION_TAG, PROCESS_TAG
from screentime.contracts.options import RunOptions
from screentime.contracts.progress import ProgressRecord, utc_now
from screentime.contracts.run_config import episode_run_config
from screentime.pipelines.progress_sensors import episode_progress_on_failure
from screentime.pipelines.run_monitor import episode_run_monitor
from screentime.pipelines.sensors import episode_discovery
from screentime.progress.store import ProgressStore
from screentime.resources import StorageResource
from screentime.storage import LocalStorage
from tests.dagster_helpers import local_defs, run_episode_job
from tests.live_servers import wait_for

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
KINDS = ("frames", "crops", "manifests")


@pytest.fixture
def site(tmp_path, monkeypatch):
    """DAGSTER_HOME seeded with the shipped dagster.yaml, an artifact root and a videos root, in
    this process's environment and in `env` for the processes the tests start."""
    home = tmp_path / "home"
    home.mkdir()
    with resources.as_file(resources.files("screentime.pipelines").joinpath("dagster.yaml")) as shipped:
        shutil.copyfile(shipped, home / "dagster.yaml")
    (tmp_path / "videos").mkdir()
    env = {"DAGSTER_HOME": str(home), "SCREENTIME_DATA_DIR": str(tmp_path / "data"), "STORAGE_BACKEND": "local",
           "SCREENTIME_VIDEOS_DIR": str(tmp_path / "videos")}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with dg.DagsterInstance.get() as instance:
        yield {"env": {**os.environ, **env}, "data": tmp_path / "data", "videos": tmp_path / "videos",
               "root": tmp_path, "instance": instance,
               "storage": StorageResource(backend="local", data_dir=str(tmp_path / "data"))}


def latest(data: Path, ep_id: str) -> ProgressRecord | None:
    try:
        return ProgressStore(LocalStorage(data)).latest(parse_episode_id(ep_id))
    except ValueError:  # a record being replaced: read again
        return None


def detecting(data: Path, ep_id: str) -> bool:
    record = latest(data, ep_id)
    return record is not None and record.phase == "detecting" and record.frames_done > 0


def run_folders(data: Path, ep_id: str) -> set[str]:
    rel = parse_episode_id(ep_id).relative_dir
    return {p.name for kind in KINDS for p in (data / f"artifacts/{kind}/{rel}").glob("*") if p.is_dir()}


def ledger(data: Path, ep_id: str) -> dict | None:
    path = data / f"artifacts/manifests/{parse_episode_id(ep_id).relative_dir}/failures.json"
    return json.loads(path.read_text()) if path.exists() else None


def monitor_tick(instance) -> str:
    """One evaluation of the real run monitor sensor, as the daemon makes it; its skip reason."""
    result = episode_run_monitor(dg.build_sensor_context(instance=instance))
    return result.skip_message


def failure_sensor(instance, storage, run_id: str) -> None:
    """The real failure sensor on the run's failure, as the daemon hands it over."""
    event = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records[-1]
    context = dg.build_run_status_sensor_context(
        sensor_name=episode_progress_on_failure.name, dagster_event=event.event_log_entry.dagster_event,
        dagster_instance=instance, dagster_run=instance.get_run_by_id(run_id), resources={"storage": storage},
    ).for_run_failure()
    episode_progress_on_failure(context)


def the_run(instance, ep_id: str) -> dg.DagsterRun:
    return wait_for(lambda: next(iter(instance.get_runs(dg.RunsFilter(tags={PARTITION_TAG: ep_id}))), None),
                    60, 0.1, f"the run of {ep_id}")


def kill(proc: subprocess.Popen) -> float:
    """SIGKILL; returns when (epoch seconds, as the run records keep time)."""
    proc.send_signal(signal.SIGKILL)
    killed = time.time()
    proc.wait(10)  # reaped, as a shell would
    return killed


def test_a_killed_screentime_run_is_failed_by_the_run_monitor_with_its_progress_ended(site, cap13, capsys):
    """SIGKILL a `screentime run` while it detects: nothing in it can end its run. The run monitor's
    next tick marks it failed (RunWorkerDied: it holds neither its episode nor the `gpu` slot any
    more), the failure sensor ends its progress with `error` at its last ratio and removes its
    partial files, the file is not counted towards quarantine, and `screentime status` says failed."""
    ep_id, instance, data = "victim-s01e01", site["instance"], site["data"]
    cli = subprocess.Popen([str(BIN / "screentime"), "run", str(cap13), "--ep-id", ep_id, "--save-frames", "--quiet"],
                           env=site["env"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: cli.poll() is not None or detecting(data, ep_id), 120, 0.05, "the run to detect")
        assert cli.poll() is None, cli.stderr.read()
    finally:
        kill(cli)
    run = the_run(instance, ep_id)
    assert run.status == dg.DagsterRunStatus.STARTED and run.tags[PROCESS_TAG].endswith(f":{cli.pid}")
    job = local_defs(data).resolve_job_def(EPISODE_JOB)  # two runs the monitor must leave alone:
    alive = instance.create_run_for_job(job, status=dg.DagsterRunStatus.STARTED,  # this live process's
                                        tags={PARTITION_TAG: "alive-s01e01", PROCESS_TAG: process_tag()})
    elsewhere = instance.create_run_for_job(job, status=dg.DagsterRunStatus.STARTED,  # another host's
                                            tags={PARTITION_TAG: "far-s01e01", PROCESS_TAG: f"other-host:{cli.pid}"})

    reason = monitor_tick(instance)
    assert run.run_id in reason
    dead = instance.get_run_by_id(run.run_id)
    assert dead.status == dg.DagsterRunStatus.FAILURE
    assert {instance.get_run_by_id(r.run_id).status for r in (alive, elsewhere)} == {dg.DagsterRunStatus.STARTED}
    assert run.run_id not in monitor_tick(instance)  # once

    failure_sensor(instance, site["storage"], run.run_id)
    end = latest(data, ep_id)
    assert (end.run_id, end.phase, end.error_type) == (run.run_id, "error", "RunWorkerDied")
    assert f"({run.tags[PROCESS_TAG]}) is gone" in end.error and end.frames_total == 765 and 0 < end.ratio < 1
    assert ledger(data, ep_id) is None  # the file did nothing wrong
    assert run_folders(data, ep_id) == {run.run_id}  # its progress history only: the partial JPEGs are gone
    assert not any((data / "artifacts/frames").rglob("*.jpg"))
    capsys.readouterr()
    assert main(["status", "victim", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["state"] == "failed" and "RunWorkerDied" in row["detail"]


def test_a_killed_run_worker_stops_its_step_and_the_next_run_is_left_alone(site, group_shots, carphone):
    """A run worker (`dagster job execute`: the analysis step in a process of its own) killed with
    SIGKILL while its step detects: the step notices and exits within seconds instead of analysing
    on beside the next run. With no code server to fail the run, the run monitor does (the step
    recorded its worker in the run's tags); the failure is not the file's; the next run of the
    episode runs alone, and nothing of the killed run is left beside its published manifest."""
    ep_id, instance, data = "worker-s01e01", site["instance"], site["data"]
    instance.add_dynamic_partitions(EPISODES, [ep_id])
    config = site["root"] / "run.yaml"  # det_size 1280: a 30 s analysis, so a step left alone would outlive the test
    config.write_text(yaml.safe_dump(episode_run_config(RunOptions(det_size=1280, save_frames=True), str(group_shots))))
    worker = subprocess.Popen(
        [str(BIN / "dagster"), "job", "execute", "-m", "screentime.pipelines.definitions", "-a", "defs",
         "-j", EPISODE_JOB, "-c", str(config), "--tags", json.dumps({PARTITION_TAG: ep_id})],
        cwd=REPO, env=site["env"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: worker.poll() is not None or detecting(data, ep_id), 180, 0.05, "the step to detect")
        assert worker.poll() is None, worker.stderr.read()[-2000:]
        run = the_run(instance, ep_id)
        [step] = [e.dagster_event.pid for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)]
        assert step != worker.pid  # the multiprocess executor: the step in a process of its own
    finally:
        killed = kill(worker)
    wait_for(lambda: pid_gone(step), 10, 0.05, "the orphaned step to stop")
    stopped_after = time.time() - killed
    print(f"the orphaned step stopped {stopped_after:.1f} s after its worker's kill")
    assert stopped_after < 5, stopped_after
    ratio_at_stop = latest(data, ep_id).ratio
    assert ratio_at_stop < 0.5  # it stopped where it was, it did not analyse on

    run = instance.get_run_by_id(run.run_id)
    assert run.status == dg.DagsterRunStatus.STARTED and run.tags[PROCESS_TAG] == process_tag(worker.pid)
    assert run.run_id in monitor_tick(instance)
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
    failure_sensor(instance, site["storage"], run.run_id)
    end = latest(data, ep_id)
    assert (end.run_id, end.phase, end.error_type) == (run.run_id, "error", "RunWorkerDied")
    assert ledger(data, ep_id) is None  # killing its worker is not the file's fault

    following = run_episode_job(local_defs(data), instance, ep_id, carphone, fps=5, save_frames=True)
    assert following.success
    time.sleep(2)  # anything of the killed run still writing would show now
    done = latest(data, ep_id)
    assert (done.run_id, done.phase) == (following.run_id, "done")
    assert run_folders(data, ep_id) == {following.run_id}


WRITER = textwrap.dedent("""
    import sys, time
    from screentime.contracts.progress import ProgressRecord, utc_now
    from screentime.progress.store import ProgressStore
    from screentime.storage import LocalStorage
    store = ProgressStore(LocalStorage(sys.argv[1]))
    for i in range(1, 100_000):
        ratio = min(0.999, i / 200)
        phase = "detecting" if ratio < 0.999 else "exporting"
        written = store.write(ProgressRecord(ep_id="late-s01e01", run_id="old-run", phase=phase, frames_done=i,
                                             frames_total=200, ratio=ratio, seq=i, updated_at=utc_now()))
        print("written" if written is not None else "refused", flush=True)
        time.sleep(0.01)
""")


def test_a_run_that_a_newer_run_superseded_never_overwrites_its_progress(tmp_path):
    """A writer process of an old run that goes on writing (as an orphaned step did, for ~50 s)
    while a newer run starts, runs and ends: from the newer run's first record on, the old run's
    records reach neither progress.json nor a history folder that the newer run's publish pruned."""
    data = tmp_path / "data"
    ep = parse_episode_id("late-s01e01")
    old = subprocess.Popen([sys.executable, "-c", WRITER, str(data)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert old.stdout.readline().strip() == "written"
        store = ProgressStore(LocalStorage(data))
        for seq, phase in enumerate(("starting", "detecting", "done"), start=1):
            store.write(ProgressRecord(ep_id=str(ep), run_id="new-run", phase=phase, seq=seq, updated_at=utc_now(),
                                       ratio=1.0 if phase == "done" else 0.0))
            time.sleep(0.2)
        newer = store.latest(ep)
        shutil.rmtree(data / "artifacts/manifests/late/s01/e01/old-run")  # the newer run's publish prunes it
        lines = [old.stdout.readline().strip() for _ in range(50)]  # half a second more of the old writer
    finally:
        old.kill()
        old.wait()
    assert lines[-10:] == ["refused"] * 10
    assert store.latest(ep) == newer and newer.phase == "done"
    assert not (data / "artifacts/manifests/late/s01/e01/old-run").exists()


def _dequeue_and_run(instance, job: dg.JobDefinition, run: dg.DagsterRun) -> dg.DagsterRun:
    """What the daemon does with a queued run once the queue lets it go: start it (here in-process)."""
    from dagster._core.definitions.job_base import InMemoryJob
    from dagster._core.execution.api import execute_run

    execute_run(InMemoryJob(job), instance.get_run_by_id(run.run_id), instance)
    return instance.get_run_by_id(run.run_id)


def _queue(instance, job: dg.JobDefinition, request: dg.RunRequest) -> dg.DagsterRun:
    """What the daemon does with a sensor's run request at the tick: a run, created then, that waits
    (the daemon's waits QUEUED, which needs its code location's origin; this one NOT_STARTED)."""
    resolved = request.with_resolved_tags_and_config(target_definition=job, dynamic_partitions_requests=[],
                                                     dynamic_partitions_store=instance)
    run_config = {**resolved.run_config, "execution": {"config": {"in_process": {}}}}
    return instance.create_run_for_job(job, run_config=run_config, status=dg.DagsterRunStatus.NOT_STARTED,
                                       tags={**resolved.tags, "dagster/run_key": request.run_key})


def test_a_request_made_while_the_episode_was_analysed_does_not_analyse_it_again(site, carphone):
    """`screentime run` on a new file in the videos root; the discovery sensor ticks meanwhile and
    requests the same file, whose run waits in the queue (one run per episode) and starts after the
    CLI's success. It finds the episode published for the same file and code after it was
    requested: it ends at once with nothing to do (no second analysis, the CLI's outputs kept, its
    progress `done` with the manifest's counts). A request made after the publication is honoured."""
    ep_id, instance, data = "drop-s01e01", site["instance"], site["data"]
    (site["videos"] / "drop").mkdir()
    video = site["videos"] / "drop/s01e01.mp4"
    shutil.copy(carphone, video)
    job = local_defs(data).resolve_job_def(EPISODE_JOB)
    cli = subprocess.Popen([str(BIN / "screentime"), "run", str(video), "--ep-id", ep_id, "--fps", "10", "--quiet"],
                           env=site["env"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: cli.poll() is not None or the_run(instance, ep_id).status == dg.DagsterRunStatus.STARTED,
             120, 0.05, "the CLI's run to start")
    tick = episode_discovery(dg.build_sensor_context(instance=instance, resources={"storage": site["storage"]}))
    [request] = tick.run_requests  # the sensor sees a new file with no manifest: it asks for a run
    assert request.partition_key == ep_id
    queued = _queue(instance, job, request)
    assert cli.wait(120) == 0, cli.stderr.read()
    manifest = json.loads((data / "artifacts/manifests/drop/s01/e01/manifest.json").read_text())

    ran = _dequeue_and_run(instance, job, queued)
    assert ran.status == dg.DagsterRunStatus.SUCCESS
    materialized = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("detections"), asset_partitions=[ep_id]), limit=10).records
    assert [m.run_id for m in materialized] == [manifest["run_id"]]  # analysed once: by the CLI
    assert json.loads((data / "artifacts/manifests/drop/s01/e01/manifest.json").read_text()) == manifest
    assert run_folders(data, ep_id) >= {manifest["run_id"]}  # the CLI's outputs were not pruned
    end = ProgressStore(LocalStorage(data)).history(parse_episode_id(ep_id), queued.run_id)[-1]
    assert end.phase == "done" and end.counts.model_dump() == manifest["counts"]
    assert latest(data, ep_id).phase == "done"

    asked_after = dg.RunRequest(partition_key=ep_id, run_key="again", tags={LAUNCHED_BY_TAG: "sensor"})
    again = _dequeue_and_run(instance, job, _queue(instance, job, asked_after))
    assert again.status == dg.DagsterRunStatus.SUCCESS
    republished = json.loads((data / "artifacts/manifests/drop/s01/e01/manifest.json").read_text())
    assert republished["run_id"] == again.run_id  # asked for after the publication: analysed again


@pytest.mark.slow
def test_under_the_daemon_a_killed_run_frees_the_queue_within_a_minute(tmp_path, cap13):
    """The real daemon on the shipped dagster.yaml: a `screentime run` killed with SIGKILL, then a
    backfill of another episode, which the dead run's `gpu` slot would hold in the queue for good.
    The run monitor fails the dead run and the other run starts, each within 60 s of the kill. Then
    that run's worker is killed while its step detects: the code server fails the run at once, the
    step stops within seconds, the failure sensor ends its progress (RunWorkerDied, not counted)."""
    from screentime.pipelines.backfills import write_workspace

    home, data, videos = tmp_path / "home", tmp_path / "data", tmp_path / "videos"
    home.mkdir()
    (videos / "other").mkdir(parents=True)
    with resources.as_file(resources.files("screentime.pipelines").joinpath("dagster.yaml")) as shipped:
        shutil.copyfile(shipped, home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "SCREENTIME_DATA_DIR": str(data), "STORAGE_BACKEND": "local",
           "SCREENTIME_VIDEOS_DIR": str(videos)}
    with dg.DagsterInstance.from_config(str(home)):
        pass  # its SQLite storage made before the daemon starts (test_concurrency.py: two processes making it race)
    daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", str(write_workspace(tmp_path))], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            def ticked(name: str) -> bool:
                states = [s for s in instance.all_instigator_state() if s.name == name]
                return any(instance.get_ticks(s.instigator_origin_id, s.selector_id, limit=1) for s in states)

            wait_for(lambda: ticked("episode_run_monitor") and ticked("episode_progress_on_failure"), 180, 0.5,
                     "the daemon's sensors")
            cli = subprocess.Popen([str(BIN / "screentime"), "run", str(cap13), "--ep-id", "victim-s01e01", "--quiet"],
                                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_for(lambda: detecting(data, "victim-s01e01"), 120, 0.05, "the CLI's run to detect")
            killed = kill(cli)
            shutil.copy(cap13, videos / "other/s01e01.mp4")
            backfill = subprocess.run([str(BIN / "screentime"), "backfill", "other", "--season", "1"], env=env,
                                      capture_output=True, text=True, timeout=180)
            assert backfill.returncode == 0, backfill.stderr
            victim = the_run(instance, "victim-s01e01")
            other = wait_for(lambda: (r := the_run(instance, "other-s01e01")).status == dg.DagsterRunStatus.STARTED
                             and r, 60 - (time.time() - killed), 0.2, "the queued run to start")
            started = time.time() - killed
            failed = instance.get_run_record_by_id(victim.run_id)
            assert failed.dagster_run.status == dg.DagsterRunStatus.FAILURE and failed.end_time - killed < 60
            print(f"the killed run failed {failed.end_time - killed:.1f} s after the kill; the queued run started "
                  f"{started:.1f} s after it")
            end = wait_for(lambda: (r := latest(data, "victim-s01e01")) and r.phase == "error" and r, 30, 0.5,
                           "the victim's error record")
            assert end.error_type == "RunWorkerDied"

            wait_for(lambda: detecting(data, "other-s01e01"), 120, 0.05, "the other run to detect")
            worker = next(r.event_log_entry.dagster_event.pid for r in instance.get_records_for_run(
                other.run_id, of_type=dg.DagsterEventType.RUN_START).records)
            [step] = [e.dagster_event.pid for e in instance.all_logs(other.run_id,
                                                                    of_type=dg.DagsterEventType.STEP_START)]
            os.kill(worker, signal.SIGKILL)
            worker_killed = time.time()
            wait_for(lambda: pid_gone(step), 10, 0.05, "the orphaned step to stop")
            print(f"the orphaned step stopped {time.time() - worker_killed:.1f} s after its worker's kill")
            assert wait_for(lambda: instance.get_run_by_id(other.run_id).is_finished, 30, 0.2, "the run to end")
            history = ProgressStore(LocalStorage(data)).history  # the sensor may queue the file again meanwhile
            end = wait_for(lambda: (h := history(parse_episode_id("other-s01e01"), other.run_id)) and h[-1].terminal
                           and h[-1], 30, 0.5, "the other's error record")
            assert end.phase == "error" and end.error_type == "RunWorkerDied", end
            assert ledger(data, "other-s01e01") is None and ledger(data, "victim-s01e01") is None
    finally:
        os.killpg(daemon.pid, signal.SIGKILL)  # the daemon, its code server and their run workers
        daemon.wait(10)
