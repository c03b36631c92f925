"""Season backfills: one Dagster backfill of `episode_job` over a list of episodes, one run each.

It goes through Dagster's own `dagster job backfill`, so the backfill is Dagster's: it shows in
the UI (Overview > Backfills), every run gets the job's partitioned config (the progress logger
on), and runs are submitted to the instance's run queue, where the concurrency limits of
dagster.yaml apply and the daemon (`make ui`, or `dagster-daemon run`) starts them. A failed
episode fails alone; the others run on.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
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
_LAUNCHED = re.compile(r"Launched backfill job `([^`]+)`")
DAEMON_FRESH_S = 120  # a queue daemon heartbeat older than this: no daemon is dequeuing


class BackfillFailed(ScreentimeError):
    pass


def write_workspace(folder: Path) -> Path:
    """A workspace file naming the same code location as the repository's workspace.yaml."""
    path = folder / "workspace.yaml"
    location = {"module_name": DEFINITIONS_MODULE, "attribute": "defs", "location_name": LOCATION}
    path.write_text(yaml.safe_dump({"load_from": [{"python_module": location}]}))
    return path


def launch_backfill(keys: list[str], tags: dict[str, str]) -> str:
    """Backfill `episode_job` for these (registered) episode ids on the DAGSTER_HOME instance.

    Returns the backfill id. With the queued run coordinator the runs wait for the daemon; with
    a synchronous launcher (tests) they have all finished when this returns.
    """
    if not keys:
        raise BackfillFailed("nothing to backfill")
    with tempfile.TemporaryDirectory(prefix="screentime-backfill-") as folder:
        command = [
            sys.executable, "-m", "dagster", "job", "backfill",
            "-w", str(write_workspace(Path(folder))), "-j", EPISODE_JOB,
            "--partitions", ",".join(keys), "--tags", json.dumps(tags), "--noprompt",
        ]
        done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    found = _LAUNCHED.search(done.stdout)
    if done.returncode != 0 or not found:
        detail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise BackfillFailed(f"dagster job backfill failed (exit {done.returncode}): {detail[0]}")
    return found.group(1)


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
