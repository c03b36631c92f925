"""The episode job: every asset of the `episodes` group, for one episode partition."""

from __future__ import annotations

import dagster as dg

from screentime.assets.partitions import episode_partitions
from screentime.contracts.names import EPISODE_GROUP, EPISODE_JOB
from screentime.contracts.run_config import episode_run_config

episode_job = dg.define_asset_job(
    EPISODE_JOB,
    # With their asset checks (assets/checks.py): Dagster plans and runs them for the episode.
    selection=dg.AssetSelection.groups(EPISODE_GROUP),
    partitions_def=episode_partitions,
    config=episode_run_config(),
    description="Analyse one episode: frames, detections, tracks, crops, then the manifest; with its checks.",
)
