"""One analysis of an episode at a time, whatever launched it (UI, CLI, API, sensor, backfill).

The shipped run queue already holds a second run of an episode back (a tag limit on
`dagster/partition`), but `screentime run` executes in-process, past the queue. So every episode
run checks the instance when it starts: among the runs of the same episode that are not queued
and not finished, the one created first goes on and the others stop before writing anything.
A run's record exists before it starts, so two runs that race always agree on who was first.
"""

from __future__ import annotations

import os
import socket

import dagster as dg

from screentime.contracts.errors import EpisodeBusy
from screentime.contracts.names import EPISODE_JOB, LAUNCHED_BY_TAG, PARTITION_TAG, PROCESS_TAG

ACTIVE = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED,
          dg.DagsterRunStatus.CANCELING]


def process_tag() -> str:
    """This process as `<host>:<pid>`, the tag an in-process run carries."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _died(run: dg.DagsterRun) -> bool:
    """An in-process run whose process on this host is gone (killed: nothing marked it failed)."""
    host, _, pid = run.tags.get(PROCESS_TAG, "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def active_runs(instance: dg.DagsterInstance, ep_id: str) -> list[dg.RunRecord]:
    """Runs of the episode job for `ep_id` that are starting or running, oldest first. An
    in-process run whose process died is marked failed on the way, so it holds nothing."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(job_name=EPISODE_JOB, statuses=ACTIVE, tags={PARTITION_TAG: ep_id}))
    alive = []
    for record in records:
        if _died(record.dagster_run):
            instance.report_run_failed(record.dagster_run, message="the process running it died (killed?)")
        else:
            alive.append(record)
    return sorted(alive, key=lambda r: (r.create_timestamp, r.dagster_run.run_id))


def describe(record: dg.RunRecord) -> str:
    run = record.dagster_run
    return f"run {run.run_id} (launched by {run.tags.get(LAUNCHED_BY_TAG, 'the UI')})"


def claim_episode(instance: dg.DagsterInstance, ep_id: str, run_id: str) -> None:
    """Raise EpisodeBusy unless this run is the oldest active run of the episode."""
    for record in active_runs(instance, ep_id):
        if record.dagster_run.run_id == run_id:
            return
        raise EpisodeBusy(f"{ep_id} is already being analysed by {describe(record)}; "
                          "this run stopped before writing anything")
