"""Helpers for tests that run the real Dagster job on a temporary instance."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from screentime.assets.partitions import EPISODES
from screentime.contracts.names import EPISODE_JOB
from screentime.contracts.options import RunOptions
from screentime.contracts.run_config import episode_run_config
from screentime.pipelines.definitions import build_defs
from screentime.resources import StorageResource


def local_defs(data_dir: Path) -> dg.Definitions:
    return build_defs(StorageResource(backend="local", data_dir=str(data_dir)))


def run_episode_job(defs: dg.Definitions, instance, ep_id: str, video: Path | str, **options):
    if not instance.has_dynamic_partition(EPISODES, ep_id):
        instance.add_dynamic_partitions(EPISODES, [ep_id])
    return defs.resolve_job_def(EPISODE_JOB).execute_in_process(
        run_config=episode_run_config(RunOptions(**options), str(video)),
        instance=instance, partition_key=ep_id, raise_on_error=False,
    )
