"""Episode discovery: a sensor that scans the videos root, adds a partition per new episode and
requests its run. Bad file names are reported in the tick's log and skip reason, never fatal.

The cursor maps each episode id to its file's fingerprint (size + mtime); only new or changed
files lead to a run, and the run key (episode + fingerprint) keeps Dagster from ever launching
the same file twice. An episode whose manifest is newer than its file is registered, not re-run.
"""

import json

import dagster as dg

from screentime.analysis.publish import read_manifest
from screentime.assets.partitions import episode_partitions
from screentime.contracts.errors import ScreentimeError
from screentime.contracts.names import EPISODES, LAUNCHED_BY_TAG
from screentime.library.discovery import Scan, is_processed, scan_videos
from screentime.library.sources import videos_root
from screentime.pipelines.concurrency import ensure_pool_limits
from screentime.pipelines.jobs import episode_job
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


@dg.sensor(
    name=DISCOVERY_SENSOR,
    job=episode_job,
    minimum_interval_seconds=INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Scans SCREENTIME_VIDEOS_DIR for <show>/s<SS>e<EE>.<ext>, adds each new episode's "
    "partition and requests its run (see README, Run a season).",
)
def episode_discovery(context: dg.SensorEvaluationContext, storage: StorageResource) -> dg.SensorResult:
    root = videos_root()
    try:
        scan = scan_videos(root)
        store = storage.get_storage()
        seen = read_cursor(context.cursor)
        registered = set(context.instance.get_dynamic_partitions(EPISODES))
        changed = [video for video in scan.episodes if seen.get(str(video.ep)) != video.fingerprint]
        to_run = [video for video in changed if not is_processed(video, read_manifest(store, video.ep))]
    except ScreentimeError as exc:
        return dg.SensorResult(skip_reason=f"cannot scan {root}: {exc}")

    for bad in scan.rejected:
        context.log.warning(f"skipped {bad}")
    new_keys = [str(video.ep) for video in scan.episodes if str(video.ep) not in registered]
    # Only files still present are kept: the cursor stays as small as the library.
    cursor = json.dumps({str(video.ep): video.fingerprint for video in scan.episodes}, sort_keys=True)
    partitions = [episode_partitions.build_add_request(new_keys)] if new_keys else []
    if not to_run:
        reason = f"no new or changed episodes in {root}{rejected_summary(scan)}"
        return dg.SensorResult(skip_reason=reason, cursor=cursor, dynamic_partitions_requests=partitions)
    context.log.info(f"requesting {len(to_run)} run(s): {', '.join(str(video.ep) for video in to_run)}")
    ensure_pool_limits(context.instance)
    requests = [
        dg.RunRequest(
            partition_key=str(video.ep),
            run_key=f"{video.ep}@{video.fingerprint}",
            tags={LAUNCHED_BY_TAG: "sensor"},
        )
        for video in to_run
    ]
    return dg.SensorResult(run_requests=requests, cursor=cursor, dynamic_partitions_requests=partitions)
