"""`screentime status SHOW` and `screentime retry EP`: where a show's episodes stand, and lifting
an episode's quarantine (see docs/seasons.md, Failed episodes)."""

from __future__ import annotations

import argparse
import json
import sys


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def cmd_status(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    import dagster as dg

    from screentime.analysis.publish import read_manifest
    from screentime.analysis.status import EpisodeFacts, episode_status
    from screentime.analysis.versions import analysis_code_version
    from screentime.assets.guard import ACTIVE
    from screentime.contracts.episode import EpisodeId, parse_episode_id
    from screentime.contracts.errors import InvalidEpisodeId, ScreentimeError
    from screentime.contracts.layout import ARTIFACTS, FAILURES_FILE, MANIFEST_FILE, PROGRESS_FILE, episode_of_key
    from screentime.contracts.names import EPISODE_JOB, EPISODES, PARTITION_TAG
    from screentime.library.discovery import scan_videos
    from screentime.library.failures import FailureLedgers, RetryPolicy
    from screentime.library.sources import videos_root
    from screentime.pipelines.instance import ensure_dagster_home
    from screentime.pipelines.schedules import recorded_code_version
    from screentime.progress.store import ProgressStore
    from screentime.storage import StorageSettings, open_storage

    EpisodeId(args.show, 1, 1)  # the show slug, checked like an episode id's
    policy = RetryPolicy.from_env()
    store = open_storage(StorageSettings.from_env())
    try:
        videos = {v.ep: v for v in scan_videos(videos_root()).episodes if v.ep.show == args.show}
    except ScreentimeError as exc:
        _say(f"warning: {exc}; listing registered and analysed episodes only")
        videos = {}
    episodes = set(videos)
    names = (MANIFEST_FILE, PROGRESS_FILE, FAILURES_FILE)
    for key in store.list_keys(f"{ARTIFACTS}/manifests/{args.show}/"):
        if (ep := episode_of_key(key, names)) is not None:
            episodes.add(ep)
    ensure_dagster_home()
    ledgers, progress = FailureLedgers(store), ProgressStore(store)
    current, now = analysis_code_version(), datetime.now(timezone.utc)
    with dg.DagsterInstance.get() as instance:
        for key in instance.get_dynamic_partitions(EPISODES):
            try:
                ep = parse_episode_id(key)
            except InvalidEpisodeId:
                continue
            if ep.show == args.show:
                episodes.add(ep)
        in_flight = {}
        for run in instance.get_runs(dg.RunsFilter(job_name=EPISODE_JOB, statuses=ACTIVE)):
            state = "queued" if run.status == dg.DagsterRunStatus.QUEUED else "running"
            in_flight.setdefault(run.tags.get(PARTITION_TAG), (state, run.run_id))
        rows = []
        for ep in sorted(episodes):
            try:
                latest = progress.latest(ep)
            except ValueError:
                latest = None
            facts = EpisodeFacts(ep, videos.get(ep), read_manifest(store, ep), ledgers.read(ep), latest,
                                 in_flight.get(str(ep)), recorded_code_version(instance, str(ep)))
            rows.append(episode_status(facts, current, policy, now))
    if args.json:
        print(json.dumps([row.as_dict() for row in rows], indent=2))
        return 0
    if not rows:
        _say(f"no episodes of {args.show}: none under {videos_root()}/{args.show}/, registered or analysed")
        return 0
    width = max(len(row.ep_id) for row in rows)
    for row in rows:
        print(f"{row.ep_id:<{width}}  {row.state:<11}  {row.detail}")
    counts = {}
    for row in rows:
        counts[row.state] = counts.get(row.state, 0) + 1
    _say(f"{args.show}: {len(rows)} episode(s): " + ", ".join(f"{n} {state}" for state, n in counts.items()))
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    from screentime.contracts.episode import parse_episode_id
    from screentime.library.failures import FailureLedgers
    from screentime.storage import StorageSettings, open_storage

    ep = parse_episode_id(args.ep_id)
    lifted = FailureLedgers(open_storage(StorageSettings.from_env())).lift(ep)
    if lifted is None:
        _say(f"{ep} has no failures to lift; nothing changed")
        return 0
    _say(f"{ep}: {len(lifted.failures)} failure(s) lifted; the discovery sensor retries it on its next tick "
         f"(within a minute while the daemon runs), or run it now with `screentime run <video> --ep-id {ep}`")
    return 0


def add_status_commands(sub: argparse._SubParsersAction) -> None:
    status = sub.add_parser("status", help="Where each episode of a show stands: done, outdated, failed, "
                            "quarantined, queued, running or new.")
    status.add_argument("show", help="Show slug, e.g. the-office.")
    status.add_argument("--json", action="store_true", help="One JSON list on stdout instead of the table.")
    status.set_defaults(func=cmd_status)

    retry = sub.add_parser("retry", help="Lift an episode's quarantine (its failures are kept for the record), "
                           "so the sensor and the schedule try it again.")
    retry.add_argument("ep_id", help="Episode id, e.g. the-office-s02e07.")
    retry.set_defaults(func=cmd_retry)
