"""Episode discovery: a sensor that scans the videos root, adds a partition per new episode and
requests its run. Bad file names are reported in the tick's log and skip reason, never fatal.

The cursor maps each episode id to its file's fingerprint (size + mtime); new or changed files
lead to a run, and the run key (episode + fingerprint) keeps Dagster from launching the same file
twice. An episode whose manifest is newer than its file is registered, not re-run. An episode whose
runs failed is retried on the same file after a backoff, a bounded number of times, then left
quarantined (`screentime.library.failures`); each retry has its own run key (`...#try<N>`).
"""

import json
from datetime import datetime, timezone

import dagster as dg

from screentime.analysis.publish import read_manifest
from screentime.assets.partitions import episode_partitions
from screentime.contracts.errors import ScreentimeError
from screentime.contracts.names import EPISODES, LAUNCHED_BY_TAG
from screentime.library.discovery import NOT_WATCHING, EpisodeVideo, Scan, is_processed, scan_videos, watched_root
from screentime.library.failures import Decision, FailureLedgers, RetryPolicy, decide
from screentime.pipelines.concurrency import ensure_pool_limits
from screentime.pipelines.jobs import episode_job
from screentime.pipelines.schedules import episodes_in_flight
from screentime.resources.storage import StorageResource

DISCOVERY_SENSOR = "episode_discovery"
# A listing of the videos root per minute is cheap locally and on S3; new episodes come weekly.
INTERVAL_S = 60
REPORTED_NAMES = 5  # bad names quoted in a skip reason; the tick's log lists them all


def read_cursor(cursor: str | None) -> dict[str, str]:
    try:
        seen = json.loads(cursor) if cursor else {}
    except json.JSONDecodeError:
        return {}  # an unreadable cursor means a full rescan; run keys still prevent duplicates
    return seen if isinstance(seen, dict) else {}


def rejected_summary(scan: Scan) -> str:
    if not scan.rejected:
        return ""
    names = "; ".join(str(bad) for bad in scan.rejected[:REPORTED_NAMES])
    more = f" (and {len(scan.rejected) - REPORTED_NAMES} more)" if len(scan.rejected) > REPORTED_NAMES else ""
    return f"; {len(scan.rejected)} file(s) skipped: {names}{more}"


def runs_to_request(
    instance: dg.DagsterInstance, store, scan: Scan, changed: list[EpisodeVideo]
) -> tuple[list[tuple[EpisodeVideo, str]], list[tuple[EpisodeVideo, Decision]]]:
    """(video, run key) for each episode to run now, and (video, decision) for each failed one held
    back (waiting out its backoff, or quarantined). Candidates: new or changed files, and files
    whose runs failed (retried on the same file when the policy says so)."""
    ledgers = FailureLedgers(store)
    failed = {str(ep) for ep in ledgers.episodes()}
    candidates = changed + [v for v in scan.episodes if str(v.ep) in failed and v not in changed]
    busy = episodes_in_flight(instance) if failed else set()
    policy, now = RetryPolicy.from_env(), datetime.now(timezone.utc)
    to_run, held = [], []
    for video in candidates:
        key = str(video.ep)
        if is_processed(video, read_manifest(store, video.ep)):
            continue
        ledger = ledgers.read(video.ep) if key in failed else None
        decision = decide(ledger, video.fingerprint, policy, now)
        if decision.action != "run":
            held.append((video, decision))
            continue
        tries = len(ledger.failures) if ledger is not None and ledger.applies_to(video.fingerprint) else 0
        if tries and key in busy:
            continue  # its retry is queued or running already
        to_run.append((video, f"{key}@{video.fingerprint}" + (f"#try{tries + 1}" if tries else "")))
    return to_run, held


@dg.sensor(
    name=DISCOVERY_SENSOR,
    job=episode_job,
    minimum_interval_seconds=INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Scans SCREENTIME_VIDEOS_DIR for <show>/s<SS>e<EE>.<ext>, adds each new episode's "
    "partition and requests its run (see README, Run a season). Unset, it watches nothing (the demo's "
    "./videos is never watched) and says so on every tick.",
)
def episode_discovery(context: dg.SensorEvaluationContext, storage: StorageResource) -> dg.SensorResult:
    root = watched_root()
    if root is None:  # said on every tick, in the log and as the skip reason the UI shows
        context.log.warning(NOT_WATCHING)
        return dg.SensorResult(skip_reason=NOT_WATCHING)
    try:
        scan = scan_videos(root)
        store = storage.get_storage()
        seen = read_cursor(context.cursor)
        registered = set(context.instance.get_dynamic_partitions(EPISODES))
        changed = [video for video in scan.episodes if seen.get(str(video.ep)) != video.fingerprint]
        to_run, held = runs_to_request(context.instance, store, scan, changed)
    except ScreentimeError as exc:
        return dg.SensorResult(skip_reason=f"cannot scan {root}: {exc}")
    for video, decision in held:
        context.log.info(f"not requesting {video.ep}: {decision.reason}")

    for bad in scan.rejected:
        context.log.warning(f"skipped {bad}")
    new_keys = [str(video.ep) for video in scan.episodes if str(video.ep) not in registered]
    # Only files still present are kept: the cursor stays as small as the library.
    cursor = json.dumps({str(video.ep): video.fingerprint for video in scan.episodes}, sort_keys=True)
    partitions = [episode_partitions.build_add_request(new_keys)] if new_keys else []
    if not to_run:
        waiting = f"; {len(held)} failed episode(s) waiting or quarantined" if held else ""
        reason = f"no new or changed episodes in {root}{waiting}{rejected_summary(scan)}"
        return dg.SensorResult(skip_reason=reason, cursor=cursor, dynamic_partitions_requests=partitions)
    context.log.info(f"requesting {len(to_run)} run(s): {', '.join(str(video.ep) for video, _ in to_run)}")
    ensure_pool_limits(context.instance)
    requests = [
        dg.RunRequest(partition_key=str(video.ep), run_key=run_key, tags={LAUNCHED_BY_TAG: "sensor"})
        for video, run_key in to_run
    ]
    return dg.SensorResult(run_requests=requests, cursor=cursor, dynamic_partitions_requests=partitions)
