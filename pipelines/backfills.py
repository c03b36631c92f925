"""Season backfills: one Dagster backfill of `episode_job` over a list of episodes, one run each.

It is made in this process through Dagster's Python API, the way `dagster job backfill` makes one
(no subprocess, no parsing of its text): the code location is loaded as the daemon loads it (a code
server for `screentime.pipelines.definitions`, named `screentime`), the partition set gives each
episode's partitioned run config (the progress logger on) and tags, one run per episode is created
with the backfill's tags and submitted to the instance's run coordinator, and the backfill is
recorded on the instance, so it shows in the UI (Overview > Backfills) with its runs. With the
queued coordinator (dagster.yaml) the runs wait in the queue, where the concurrency limits apply,
until the daemon (`make ui`, or `dagster-daemon run`) starts them; with a synchronous launcher
(tests) they have run when this returns. A failed episode fails alone; the others run on.

Why not `instance.add_backfill` of a REQUESTED backfill, as the webserver does: then the daemon's
backfill loop creates the runs, so nothing would happen until a daemon runs, and a synchronous
instance (tests) would never run them. Why not the GraphQL mutation: it needs a running webserver.
"""

import sys
import time
from pathlib import Path

import dagster as dg
import yaml

from screentime.contracts.errors import ScreentimeError
from screentime.contracts.names import EPISODE_JOB, EPISODES
from screentime.library.discovery import Scan
from screentime.library.seasons import SeasonSelection

# The code location's name in workspace.yaml: runs queued here are launched by the daemon of
# `make ui`, which finds their code by this name.
LOCATION = "screentime"
DEFINITIONS_MODULE = "screentime.pipelines.definitions"
DAEMON_FRESH_S = 120  # a queue daemon heartbeat older than this: no daemon is dequeuing


class BackfillFailed(ScreentimeError):
    pass


def write_workspace(folder: Path) -> Path:
    """A workspace file naming the same code location as the repository's workspace.yaml."""
    path = folder / "workspace.yaml"
    location = {"module_name": DEFINITIONS_MODULE, "attribute": "defs", "location_name": LOCATION}
    path.write_text(yaml.safe_dump({"load_from": [{"python_module": location}]}))
    return path


def launch_backfill(instance: dg.DagsterInstance, keys: list[str], tags: dict[str, str]) -> str:
    """Backfill `episode_job` for these (registered) episode ids on `instance`; returns the backfill id.

    Raises BackfillFailed (one line) when the code location does not load or the runs cannot be made;
    a backfill that failed part way is recorded as failed, with its error, beside the runs it made."""
    from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
    from dagster._core.execution.job_backfill import create_backfill_run
    from dagster._core.remote_representation.external_data import PartitionSetExecutionParamSnap
    from dagster._core.utils import make_new_backfill_id
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import ModuleTarget
    from dagster._time import get_current_timestamp
    from dagster._utils.error import serializable_error_info_from_exc_info

    if not keys:
        raise BackfillFailed("nothing to backfill")
    target = ModuleTarget(module_name=DEFINITIONS_MODULE, attribute="defs", working_directory=None,
                          location_name=LOCATION)
    with WorkspaceProcessContext(instance, target, version=dg.__version__, code_server_log_level="WARNING") as process:
        workspace = process.create_request_context()
        if workspace.has_code_location_error(LOCATION):
            error = workspace.get_code_location_error(LOCATION)
            raise BackfillFailed(f"the code location {LOCATION!r} did not load: {_first_line(error)}")
        location = workspace.get_code_location(LOCATION)
        repo = next(iter(location.get_repositories().values()))
        job = repo.get_full_job(EPISODE_JOB)
        partition_set = next(ps for ps in repo.get_partition_sets() if ps.job_name == EPISODE_JOB)
        backfill = PartitionBackfill(
            backfill_id=make_new_backfill_id(),
            partition_set_origin=partition_set.get_remote_origin(),
            status=BulkActionStatus.REQUESTED,
            partition_names=list(keys),
            from_failure=False,
            reexecution_steps=None,
            tags=tags,
            backfill_timestamp=get_current_timestamp(),
        )
        try:
            params = location.get_partition_set_execution_params(
                repository_handle=repo.handle, partition_set_name=partition_set.name,
                partition_names=list(keys), instance=instance)
            if not isinstance(params, PartitionSetExecutionParamSnap):
                raise BackfillFailed(f"the episodes' run config could not be made: {_first_line(params.error)}")
            for partition in params.partition_data:
                run = create_backfill_run(workspace, instance, location, job, partition_set, backfill,
                                          partition.name, partition.tags, partition.run_config)
                if run is not None:
                    instance.submit_run(run.run_id, workspace)
        except Exception as exc:
            instance.add_backfill(backfill.with_status(BulkActionStatus.FAILED)
                                  .with_error(serializable_error_info_from_exc_info(sys.exc_info()))
                                  .with_end_timestamp(get_current_timestamp()))
            if isinstance(exc, ScreentimeError):
                raise
            raise BackfillFailed(f"backfill {backfill.backfill_id} failed: {_first_line(exc)}") from exc
        # COMPLETED: every run is made and submitted (what `dagster job backfill` records); the
        # runs themselves are followed in the UI, each with the backfill's tag.
        instance.add_backfill(backfill.with_status(BulkActionStatus.COMPLETED)
                              .with_end_timestamp(get_current_timestamp()))
    return backfill.backfill_id


def _first_line(error: object) -> str:
    text = getattr(error, "message", None) or str(error)
    return (text.strip().splitlines() or ["no message"])[0]


def queue_waits_for_daemon(instance: dg.DagsterInstance) -> bool:
    """True when runs go to the queue and no daemon has dequeued lately (so they will wait)."""
    if not isinstance(instance.run_coordinator, dg.QueuedRunCoordinator):
        return False
    heartbeat = instance.get_daemon_heartbeats().get("QUEUED_RUN_COORDINATOR")
    return heartbeat is None or time.time() - heartbeat.timestamp > DAEMON_FRESH_S


def register_episodes(instance: dg.DagsterInstance, keys: list[str]) -> list[str]:
    """Add the episode partitions not registered yet; returns those added. Safe against another
    launcher (two `screentime run` of one episode) registering the same key at the same moment."""
    from sqlalchemy.exc import IntegrityError

    registered = set(instance.get_dynamic_partitions(EPISODES))
    new = [key for key in dict.fromkeys(keys) if key not in registered]
    if not new:
        return []
    try:
        instance.add_dynamic_partitions(EPISODES, new)
    except IntegrityError:  # someone added one of them between the read and the insert
        now = set(instance.get_dynamic_partitions(EPISODES))
        new = [key for key in new if key not in now]
        if new:
            instance.add_dynamic_partitions(EPISODES, new)
    return new


def season_episodes(
    instance: dg.DagsterInstance, selection: SeasonSelection, scan: Scan | None, register: bool = True
) -> list[str]:
    """The selection's episodes: those registered, plus those in the scan (registered here unless
    `register` is False, for a dry run)."""
    found = selection.select(str(video.ep) for video in scan.episodes) if scan else []
    if register:
        register_episodes(instance, found)
    return selection.select([*instance.get_dynamic_partitions(EPISODES), *found])
