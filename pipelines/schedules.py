"""The nightly catch-up: a run for every registered episode that is unprocessed or stale.

Unprocessed: no manifest (never run, or its runs failed). Stale: its analysis assets were last
materialised under another code version (another detector, weights or tracker; see
`screentime.analysis.versions`), which the UI shows as outdated. Episodes with a run already queued or
in progress are left alone, and the run key (episode + reason + night) asks once per night. An
episode whose runs failed on its current file follows the retry policy
(`screentime.library.failures`): it waits out its backoff, and once quarantined it is skipped.
"""

from datetime import datetime, timezone

import dagster as dg

from screentime.analysis.publish import read_manifest
from screentime.analysis.versions import analysis_code_version, catch_up_reason
from screentime.assets.guard import ACTIVE
from screentime.contracts.episode import parse_episode_id
from screentime.contracts.errors import InvalidEpisodeId
from screentime.contracts.names import (
    CODE_VERSION_TAG,
    EPISODE_JOB,
    EPISODES,
    LAUNCHED_BY_TAG,
    PARTITION_TAG,
    REASON_TAG,
)
from screentime.library.failures import FailureLedgers, RetryPolicy, current_fingerprint, decide
from screentime.pipelines.concurrency import ensure_pool_limits
from screentime.pipelines.jobs import episode_job
from screentime.resources.storage import StorageResource

CATCH_UP_SCHEDULE = "nightly_catch_up"
NIGHTLY_CRON = "0 3 * * *"
# The asset whose code version stands for the analysis (all four outputs share one version).
VERSIONED_ASSET = dg.AssetKey("detections")


def recorded_code_version(instance: dg.DagsterInstance, ep_id: str) -> str | None:
    """The code version the episode's analysis was last materialised with on this instance."""
    result = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=VERSIONED_ASSET, asset_partitions=[ep_id]), limit=1
    )
    if not result.records:
        return None
    return result.records[0].asset_materialization.tags.get(CODE_VERSION_TAG)


def episodes_in_flight(instance: dg.DagsterInstance) -> set[str]:
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=EPISODE_JOB, statuses=ACTIVE))
    return {run.tags[PARTITION_TAG] for run in runs if PARTITION_TAG in run.tags}


def catch_up_requests(
    instance: dg.DagsterInstance, storage: StorageResource, night: str, log
) -> list[dg.RunRequest]:
    current = analysis_code_version()
    store = storage.get_storage()
    busy = episodes_in_flight(instance)
    ledgers = FailureLedgers(store)
    failed = {str(ep) for ep in ledgers.episodes()}
    policy, now = RetryPolicy.from_env(), datetime.now(timezone.utc)
    requests = []
    for key in instance.get_dynamic_partitions(EPISODES):
        try:
            ep = parse_episode_id(key)
        except InvalidEpisodeId as exc:  # a partition added by hand in the UI
            log.warning(f"skipped partition {key!r}: {exc}")
            continue
        if key in busy:
            continue
        has_manifest = read_manifest(store, ep) is not None
        reason = catch_up_reason(has_manifest, recorded_code_version(instance, key), current)
        if reason and key in failed:
            decision = decide(ledgers.read(ep), current_fingerprint(ep), policy, now)
            if decision.action != "run":
                log.info(f"not requesting {key}: {decision.reason}")
                continue
        if reason:
            requests.append(dg.RunRequest(
                partition_key=key, run_key=f"{key}:{reason}:{night}",
                tags={LAUNCHED_BY_TAG: "schedule", REASON_TAG: reason},
            ))
    return requests


@dg.schedule(
    name=CATCH_UP_SCHEDULE,
    job=episode_job,
    cron_schedule=NIGHTLY_CRON,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every night at 03:00: a run for each unprocessed or stale (outdated) episode.",
)
def nightly_catch_up(context: dg.ScheduleEvaluationContext, storage: StorageResource):
    night = (context.scheduled_execution_time or datetime.now(timezone.utc)).strftime("%Y-%m-%d")
    requests = catch_up_requests(context.instance, storage, night, context.log)
    if not requests:
        return dg.SkipReason("every registered episode is processed and current")
    context.log.info(f"requesting {len(requests)} run(s): {', '.join(r.partition_key for r in requests)}")
    ensure_pool_limits(context.instance)
    return requests
