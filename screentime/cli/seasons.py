"""`screentime add` and `screentime backfill`: register episodes by hand, backfill whole seasons.

Both work on the Dagster instance in DAGSTER_HOME (the one `make ui` uses). Bad file names are
reported one per line on stderr and skipped; only when nothing usable is left is it an error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from screentime.contracts.errors import InvalidOption, ScreentimeError

EXIT_INVALID = 2


def _say(message: str) -> None:
    print(message, file=sys.stderr)


@contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send file descriptor 1 to stderr for the block: what Dagster prints while it makes the runs
    (its code server, a synchronous launcher's runs) goes to stderr, so stdout stays the backfill id."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _video_is_where_runs_look(ep, location: str) -> bool:
    from screentime.library.sources import default_video_path

    found = default_video_path(ep)
    return found is not None and Path(found).resolve() == Path(location).resolve()


def cmd_add(args: argparse.Namespace) -> int:
    import dagster as dg

    from screentime.contracts.episode import parse_episode_id
    from screentime.library.discovery import Scan, scan_paths
    from screentime.library.sources import videos_root
    from screentime.pipelines.backfills import register_episodes
    from screentime.pipelines.instance import ensure_dagster_home

    if args.ep_id:  # one video named otherwise: the id comes from the flag
        if len(args.paths) != 1 or not Path(args.paths[0]).expanduser().is_file():
            raise InvalidOption("--ep-id names one episode: give exactly one video file with it")
        scan = Scan(args.paths[0])
        episodes = [(parse_episode_id(args.ep_id), str(Path(args.paths[0]).expanduser().resolve()))]
    else:
        scan = scan_paths(args.paths)
        episodes = [(video.ep, video.location) for video in scan.episodes]
    for bad in scan.rejected:
        _say(f"skipped {bad}")
    if not episodes:
        _say("error: no episode videos to register")
        return EXIT_INVALID

    ensure_dagster_home()
    with dg.DagsterInstance.get() as instance:
        added = set(register_episodes(instance, [str(ep) for ep, _ in episodes]))
    for ep, location in episodes:
        print(f"{ep}\t{'registered' if str(ep) in added else 'already registered'}\t{location}")
        if not _video_is_where_runs_look(ep, location):
            _say(f"warning: runs of {ep} look for its video under {videos_root()}/{ep.show}/ "
                 f"(SCREENTIME_VIDEOS_DIR), not at {location}; move it there, or run it with "
                 f"`screentime run {location} --ep-id {ep}`")
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    import dagster as dg

    from screentime.analysis.publish import read_manifest
    from screentime.contracts.episode import parse_episode_id
    from screentime.contracts.names import EPISODE_JOB, LAUNCHED_BY_TAG, SEASONS_TAG, SHOW_TAG
    from screentime.contracts.settings import load_settings
    from screentime.library.discovery import scan_videos
    from screentime.library.seasons import SeasonSelection, parse_seasons
    from screentime.library.sources import videos_root
    from screentime.pipelines.backfills import launch_backfill, queue_waits_for_daemon, season_episodes
    from screentime.pipelines.concurrency import ensure_pool_limits
    from screentime.pipelines.instance import ensure_dagster_home
    from screentime.storage import open_storage

    settings = load_settings()  # a bad variable: one line, exit 2, before anything is scanned or registered
    seasons = args.season or args.seasons
    selection = SeasonSelection(args.show, parse_seasons(seasons) if seasons else ())
    try:
        scan = scan_videos(videos_root())
    except ScreentimeError as exc:  # registered episodes can still be backfilled
        _say(f"warning: {exc}; backfilling registered episodes only")
        scan = None
    for bad in scan.rejected if scan else []:
        _say(f"skipped {bad}")

    ensure_dagster_home()
    with dg.DagsterInstance.get() as instance:
        keys = season_episodes(instance, selection, scan, register=not args.dry_run)
        if args.missing:
            store = open_storage(settings.storage)
            keys = [key for key in keys if read_manifest(store, parse_episode_id(key)) is None]
        if not keys:
            _say(f"error: no {'unprocessed ' if args.missing else ''}episodes of {selection} are registered "
                 f"or found under {videos_root()}")
            return EXIT_INVALID
        _say(f"{selection}: {len(keys)} episode(s): {', '.join(keys)}")
        filters = " / ".join(f"'{text}'" for text in selection.ui_filters(keys))
        _say(f"(in the UI: Materialize all... > Custom > filter {filters} > Select all)")
        if args.dry_run:
            return 0
        tags = {LAUNCHED_BY_TAG: "cli", SHOW_TAG: selection.show, SEASONS_TAG: seasons or "all"}
        ensure_pool_limits(instance)
        with _stdout_to_stderr():
            backfill_id = launch_backfill(instance, keys, tags)
        print(backfill_id)
        _say(f"backfill {backfill_id}: {len(keys)} run(s) of {EPISODE_JOB}, one per episode; "
             "see the UI, Runs > Backfills")
        if queue_waits_for_daemon(instance):
            _say("note: the runs are queued and no Dagster daemon is running: start `make ui` "
                 "(or `dagster-daemon run`) with the same DAGSTER_HOME to run them")
    return 0


def add_season_commands(sub: argparse._SubParsersAction) -> None:
    add = sub.add_parser("add", help="Register episodes (their Dagster partitions) from video files or folders.")
    add.add_argument("paths", nargs="+", metavar="PATH",
                     help="A video named <show>/s<SS>e<EE>.<ext>, a show folder, or a videos root.")
    add.add_argument("--ep-id", default="", help="Episode id for a single video named otherwise.")
    add.set_defaults(func=cmd_add)

    backfill = sub.add_parser("backfill", help="Backfill whole seasons: one Dagster backfill, one run per episode.")
    backfill.add_argument("show", help="Show slug, e.g. the-office.")
    which = backfill.add_mutually_exclusive_group()
    which.add_argument("--season", default="", help="One season, e.g. 2.")
    which.add_argument("--seasons", default="", help="Several: 1-3, or 1-3,5. Neither: every season.")
    backfill.add_argument("--missing", action="store_true",
                          help="Only episodes without a manifest (never run, or failed): retries those alone.")
    backfill.add_argument("--dry-run", action="store_true", help="List the episodes, launch nothing.")
    backfill.set_defaults(func=cmd_backfill)
