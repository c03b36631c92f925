"""The episode job: every asset of the `episodes` group, for one episode partition."""

from __future__ import annotations

import dagster as dg

from screentime.assets.partitions import episode_partitions
from screentime.contracts.names import EPISODE_GROUP, EPISODE_JOB
from screentime.contracts.run_config import episode_run_config

episode_job = dg.define_asset_job(
    EPISODE_JOB,
    # Without the checks: the assets report them when they succeed (assets/checks.py),
    # so a failed run does not leave them "Execution failed" as if the data were bad.
    selection=dg.AssetSelection.groups(EPISODE_GROUP).without_checks(),
    partitions_def=episode_partitions,
    config=episode_run_config(),
    description="Analyse one episode: frames, detections, tracks, crops, then the manifest.",
)
