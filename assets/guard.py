"""One analysis of an episode at a time, whatever launched it (UI, CLI, API, sensor, backfill);
no run left "in progress" by a process that is gone; no request analysed twice.

The shipped run queue already holds a second run of an episode back (a tag limit on
`dagster/partition`), but `screentime run` executes in-process, past the queue. So every episode
run checks the instance when it starts: among the runs of the same episode that are not queued
and not finished, the one created first goes on and the others stop before writing anything.
A run's record exists before it starts, so two runs that race always agree on who was first.

A run whose process died (`screentime run` killed, a run worker killed) would stay STARTED: it
would hold its episode and the `gpu` pool's slot for good. Every run records the process that
runs it in its `screentime/process` tag (`<host>:<pid>`: the CLI when it creates the run, the
analysis step for a run worker's run), and `reap_dead_runs` marks a run whose process on this
host is gone as failed (`RunWorkerDied`) and frees its concurrency slots; the
`episode_run_monitor` sensor calls it every few seconds, and so does every episode run as it
starts. A step that runs in its own process (the multiprocess executor) stops itself when its run
worker is gone or its run has ended (`stop_if_orphaned`), so it cannot write beside the next run.

A request made while the episode was being analysed is not analysed again once that analysis is
published for the same file and code (`already_analysed`): the run ends with nothing to do.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import dagster as dg
from dagster._core.events import JobFailureData, RunFailureReason
from dagster._utils.error import SerializableErrorInfo

from screentime.contracts.episode import EpisodeId
from screentime.contracts.errors import EpisodeBusy, RunWorkerDied
from screentime.contracts.manifest import Manifest
from screentime.contracts.names import (
    CODE_VERSION_TAG,
    EPISODE_JOB,
    LAUNCHED_BY_TAG,
    PARTITION_TAG,
    PROCESS_TAG,
)
from screentime.contracts.options import RunOptions
from screentime.library.discovery import is_processed, video_at

# Every state of a run that has not finished: the one definition (the schedule's and `screentime
# status`'s runs in flight too).
ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
          dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
# Of those, the runs past the queue: they hold their episode (a queued run holds nothing yet, and
# the queue's tag limit holds it back while another runs).
PAST_QUEUE = [status for status in ACTIVE if status != dg.DagsterRunStatus.QUEUED]
WATCH_S = 1.0  # how often a step in its own process checks its run worker and its run
# Launchers whose runs ask for "analysed, and by the current code", with the default options
# (`episode_run_config()`): any options of a fresh analysis satisfy them, as their own checks
# (`is_processed`, the code version) already assume.
AUTOMATIC = ("sensor", "schedule")


def process_tag(pid: int | None = None) -> str:
    """This process (or `pid` on this host) as `<host>:<pid>`, the tag of the process running a run."""
    return f"{socket.gethostname()}:{pid or os.getpid()}"


def pid_gone(pid: int) -> bool:
    """Whether process `pid` on this host has ended (a zombie, ended but not yet reaped, has)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # someone else's process: alive
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return False  # no /proc (macOS): alive as far as we can tell


def process_gone(tag: str) -> bool:
    """Whether the process a `screentime/process` tag names has ended. Only a process on this host
    can be judged; any other is taken as alive."""
    host, _, pid = tag.rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and pid_gone(int(pid))


def fail_dead_run(instance: dg.DagsterInstance, run: dg.DagsterRun, why: str) -> bool:
    """Mark a run whose process is gone as failed (`RunWorkerDied`, which the failure sensor turns
    into the episode's `error` record and does not count against the file) and free any
    concurrency slots it holds. False when the run had ended meanwhile."""
    current = instance.get_run_by_id(run.run_id)
    if current is None or current.is_finished:
        return False
    error = SerializableErrorInfo(why, [], RunWorkerDied.__name__)
    instance.report_run_failed(current, why, JobFailureData(error, RunFailureReason.UNEXPECTED_TERMINATION))
    if instance.event_log_storage.supports_global_concurrency_limits:
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)  # op-granularity pools
    return True


def _dead_process(run: dg.DagsterRun) -> str | None:
    tag = run.tags.get(PROCESS_TAG, "")
    if not tag or not process_gone(tag):
        return None
    return f"the process running it ({tag}) is gone: killed, or out of memory"


def reap_dead_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    """Mark every run in progress whose process on this host is gone as failed; returns them."""
    failed = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=PAST_QUEUE)):
        why = _dead_process(record.dagster_run)
        if why is not None and fail_dead_run(instance, record.dagster_run, why):
            failed.append(record.dagster_run)
    return failed


def active_runs(instance: dg.DagsterInstance, ep_id: str) -> list[dg.RunRecord]:
    """Runs of the episode job for `ep_id` that are starting or running, oldest first. A run whose
    process died is marked failed on the way, so it holds nothing."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(job_name=EPISODE_JOB, statuses=PAST_QUEUE, tags={PARTITION_TAG: ep_id}))
    alive = []
    for record in records:
        why = _dead_process(record.dagster_run)
        if why is None or not fail_dead_run(instance, record.dagster_run, why):
            alive.append(record)
    return sorted(alive, key=lambda r: (r.create_timestamp, r.dagster_run.run_id))


def describe(record: dg.RunRecord) -> str:
    run = record.dagster_run
    return f"run {run.run_id} (launched by {run.tags.get(LAUNCHED_BY_TAG, 'the UI')})"


def claim_episode(instance: dg.DagsterInstance, ep_id: str, run_id: str) -> None:
    """Raise EpisodeBusy unless this run is the oldest active run of the episode."""
    active = active_runs(instance, ep_id)
    for record in active:
        if record.dagster_run.run_id == run_id:
            return
        raise EpisodeBusy(f"{ep_id} is already being analysed by {describe(record)}; "
                          "this run stopped before writing anything")
    run = instance.get_run_by_id(run_id)
    if run is not None and run.is_finished:  # ended while this step started: write nothing for it
        raise EpisodeBusy(f"run {run_id} of {ep_id} has already ended ({run.status.value}); "
                          "this step stopped before writing anything")


def already_analysed(
    instance: dg.DagsterInstance, manifest: Manifest | None, ep: EpisodeId, run: dg.DagsterRun,
    location: str, options: RunOptions, code_versions: dict[str, str],
) -> bool:
    """Whether `run` asks for what the episode's published `manifest` already holds, published
    after `run` was requested: the same video (`location`, unchanged since), the same code (each
    asset in `code_versions` last materialised by the manifest's run, at that version) and, unless
    an automatic launcher asked, the same options. Then analysing again would only redo it: this is
    how a request made while the episode was being analysed (the discovery sensor's tick during a
    `screentime run`, a second launch from the API) ends without doubling the work.

    A request made after the publication is honoured: asking again is how a person re-runs."""
    if manifest is None or manifest.run_id == run.run_id or not manifest.created_at:
        return False
    record = instance.get_run_record_by_id(run.run_id)
    published = datetime.fromisoformat(manifest.created_at.replace("Z", "+00:00"))
    if record is None or published <= record.create_timestamp:
        return False
    if not same_video(manifest.source.path, location) or (run.tags.get(LAUNCHED_BY_TAG) not in AUTOMATIC
                                                          and manifest.options != options):
        return False
    video = video_at(ep, location)
    if video is None or not is_processed(video, manifest):
        return False
    for asset, version in code_versions.items():
        latest = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[str(ep)]), limit=1).records
        if not latest or latest[0].run_id != manifest.run_id:
            return False
        if latest[0].asset_materialization.tags.get(CODE_VERSION_TAG) != version:
            return False
    return True


def same_video(a: str, b: str) -> bool:
    """Whether two video locations name the same file (`screentime run` resolves its path; a run
    of the videos root's file names it under SCREENTIME_VIDEOS_DIR, perhaps relative)."""
    if a.startswith("s3://") or b.startswith("s3://"):
        return a == b
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


def run_worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid of the process that started the run (its RUN_START event): the run worker, or the
    process that executes it in-process (`screentime run`)."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_START, limit=1).records
    event = records[0].event_log_entry.dagster_event if records else None
    return event.pid if event is not None else None


def _orphaned(instance: dg.DagsterInstance, run_id: str, worker: int) -> str | None:
    if pid_gone(worker):
        return f"its run worker (pid {worker}) is gone"
    run = instance.get_run_by_id(run_id)
    if run is None or run.is_finished:
        return f"its run has ended ({run.status.value if run else 'deleted'})"
    return None


@contextmanager
def stop_if_orphaned(instance: dg.DagsterInstance, run_id: str) -> Iterator[None]:
    """Around a step's work: tag the run with the process running it when nothing did (a run
    worker's run; the CLI tags its own), and, when this step runs in a process of its own (the
    multiprocess executor), exit that process as soon as its run worker is gone or its run has
    ended, checked every WATCH_S. Dagster marks such a run failed (the code server, or
    `reap_dead_runs`) and its failure sensor ends its progress and removes its files; a step that
    went on would only write beside the episode's next run. It exits at once, as a killed process
    would: what it leaves is what any killed run leaves, and the same paths clean it."""
    worker = run_worker_pid(instance, run_id)
    run = instance.get_run_by_id(run_id)
    if worker is not None and run is not None and PROCESS_TAG not in run.tags:
        instance.add_run_tags(run_id, {PROCESS_TAG: process_tag(worker)})
    if worker is None or worker == os.getpid():  # this process runs the whole run: nothing to outlive
        yield
        return

    def leave(why: str) -> None:
        message = f"step process {os.getpid()} stopped: {why}"
        sys.stderr.write(f"screentime: {message}\n")
        try:
            instance.report_engine_event(message, instance.get_run_by_id(run_id))
        finally:
            os._exit(1)

    why = _orphaned(instance, run_id, worker)
    if why is not None:
        leave(why)
    done = threading.Event()

    def watch() -> None:
        while not done.wait(WATCH_S):
            try:
                why = _orphaned(instance, run_id, worker)
            except Exception:  # the instance briefly unreachable: look again next time
                continue
            if why is not None:
                leave(why)

    threading.Thread(target=watch, name="screentime-orphan-watch", daemon=True).start()
    try:
        yield
    finally:
        done.set()
