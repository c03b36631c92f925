"""Run status sensors for the progress of episode runs: a `queued` record for a run waiting in the
queue, and the terminal record of a run that could not end its progress itself.

A run that fails inside the analysis writes its own `error` record; one whose step process was
killed, that failed in another step, or that was cancelled, may not. These sensors (run by the
Dagster daemon: `dagster dev`, or `dagster-daemon run`) write the terminal record for it through
the storage layer, so no episode stays at "running".
"""

from datetime import datetime, timezone

import dagster as dg

from screentime.analysis.failed_runs import end_failed_run
from screentime.contracts.episode import parse_episode_id
from screentime.contracts.errors import InvalidEpisodeId, RunWorkerDied
from screentime.contracts.names import ANALYSIS_OP, EPISODE_JOB, PARTITION_TAG, QUARANTINED_TAG
from screentime.progress.store import ProgressStore
from screentime.resources.storage import StorageResource

# Run status sensors are cheap (a query for new run events); a short interval ends streams fast.
INTERVAL_S = 5
CRASH = "ChildProcessCrashException"  # the multiprocess executor's word for a step process that died


def run_episode(context: dg.RunStatusSensorContext):
    """The context run's episode, or None when it is not an episode run (or has no partition)."""
    run = context.dagster_run
    if run.job_name != EPISODE_JOB:
        return None
    try:
        return parse_episode_id(run.tags.get(PARTITION_TAG))
    except InvalidEpisodeId:
        context.log.warning(f"run {run.run_id} has no episode partition tag; no progress to write")
        return None


def end_episode_run(context: dg.RunStatusSensorContext, storage: StorageResource, error_type: str, message: str,
                    counted: bool = True) -> None:
    """End the context's run, when it is an episode run, the one way (`end_failed_run`): its partial
    files, its `error` record, the failure in the episode's ledger (once per run: the asset may have
    done it; not for a cancel). A step it could not do fails the tick, so the next one tries again
    (each step is done once per run). The run that quarantined its episode is tagged, so the UI shows
    why the episode is no longer retried."""
    run = context.dagster_run
    ep = run_episode(context)
    if ep is None:
        return
    record = context.instance.get_run_record_by_id(run.run_id)
    ended_at = None
    if record is not None and record.end_time is not None:
        ended_at = datetime.fromtimestamp(record.end_time, timezone.utc)
    video = ((run.run_config or {}).get("ops", {}).get(ANALYSIS_OP, {}).get("config", {}) or {}).get("video", "")
    end = end_failed_run(storage.get_storage(), ep, run.run_id, error_type, message, video=video, counted=counted,
                         ended_at=ended_at)
    if end.removed:
        context.log.info(f"removed {end.removed} partial file(s) of {ep} run {run.run_id}")
    if end.progress is not None:
        context.log.info(f"progress of {ep} run {run.run_id} ended: {error_type}: {message}")
    if end.decision is not None and end.decision.action == "quarantined":
        context.instance.add_run_tags(run.run_id, {QUARANTINED_TAG: end.decision.reason[:200]})
        context.log.warning(f"{ep}: {end.decision.reason}; `screentime retry {ep}` or a new file lifts it")
    elif end.decision is not None:
        context.log.info(f"{ep}: {end.decision.reason}")
    if end.problems:
        raise RuntimeError(f"{ep} run {run.run_id} not fully ended: {'; '.join(end.problems)}")


def failure_reason(context: dg.RunFailureSensorContext) -> tuple[str, str]:
    """(error type, message) of the deepest cause of the first failed step, or of the run: for a run
    whose whole process died, `RunWorkerDied` (not counted against the file)."""
    for event in context.get_step_failure_events():
        error = event.step_failure_data.error
        while error is not None and error.cause is not None:
            error = error.cause
        if error is not None and error.cls_name == CRASH:
            return CRASH, "the step's process died (killed, or out of memory)"
        if error is not None:
            return error.cls_name or "StepFailure", (error.message.strip() or error.cls_name).splitlines()[0]
    died = worker_death(context)
    if died is not None:
        return RunWorkerDied.__name__, died
    return "RunFailure", context.failure_event.message or "the run failed"


def worker_death(context: dg.RunFailureSensorContext) -> str | None:
    """How the run's process died, when that is why it failed: marked so by `fail_dead_run` (its
    process is gone: a killed `screentime run`, or a run worker whose code server is gone too), or
    by the code server that launched its run worker (Dagster's engine event "Run execution process
    for <run> was terminated by signal 9 (SIGKILL)...")."""
    error = getattr(context.failure_event.event_specific_data, "error", None)
    if error is not None and error.cls_name == RunWorkerDied.__name__:
        return error.message
    run_id = context.dagster_run.run_id
    records = context.instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT).records
    crashed = f"Run execution process for {run_id} "  # after the code server's "[DagsterApiServer] "
    for record in reversed(records):
        event = record.event_log_entry.dagster_event
        _, found, how = (event.message or "").partition(crashed) if event is not None else ("", "", "")
        if found:
            return "the run worker " + how.split(" This ")[0]
    return None


# monitor_all_code_locations: runs started in-process on the same instance (`screentime run`)
# have no code location, and would otherwise be skipped.
@dg.run_failure_sensor(
    name="episode_progress_on_failure",
    monitor_all_code_locations=True,
    minimum_interval_seconds=INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Ends a failed episode run's progress with an `error` record (see README, Live progress).",
)
def episode_progress_on_failure(context: dg.RunFailureSensorContext, storage: StorageResource) -> None:
    error_type, message = failure_reason(context)
    end_episode_run(context, storage, error_type, message)


@dg.run_status_sensor(
    name="episode_progress_on_cancel",
    run_status=dg.DagsterRunStatus.CANCELED,
    monitor_all_code_locations=True,
    minimum_interval_seconds=INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Ends a cancelled episode run's progress with an `error` record (see README, Live progress).",
)
def episode_progress_on_cancel(context: dg.RunStatusSensorContext, storage: StorageResource) -> None:
    end_episode_run(context, storage, "RunCanceled", "the run was cancelled", counted=False)


@dg.run_status_sensor(
    name="episode_progress_on_queue",
    run_status=dg.DagsterRunStatus.QUEUED,
    monitor_all_code_locations=True,
    minimum_interval_seconds=INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Writes a `queued` progress record for an episode run waiting in the run queue "
    "(launched from the UI, a sensor, the schedule or a backfill), so it can be polled and followed.",
)
def episode_progress_on_queue(context: dg.RunStatusSensorContext, storage: StorageResource) -> None:
    ep = run_episode(context)
    if ep is not None and ProgressStore(storage.get_storage()).announce(ep, context.dagster_run.run_id):
        context.log.info(f"progress of {ep} run {context.dagster_run.run_id}: queued")


progress_sensors = [episode_progress_on_failure, episode_progress_on_cancel, episode_progress_on_queue]
