"""The episode job, and the one function that builds its run config for every launch path.

Every path (UI launchpad, CLI, sensors, schedules, API) runs with the progress logger on: the
job's default config names it for the launchpad, and `episode_run_config` names it for code.
A run config that names loggers replaces Dagster's default console logger, so we name both.
"""

from __future__ import annotations

import dagster as dg

from screentime.options import RunOptions
from screentime.pipelines.partitions import episode_partitions

EPISODE_JOB = "episode_job"
ANALYSIS_OP = "episode_analysis"


def logger_config(echo: bool = False) -> dict:
    return {
        "progress": {"config": {"echo": echo}},
        "console": {"config": {"log_level": "INFO"}},
    }


def episode_run_config(options: RunOptions | None = None, video: str = "", echo: bool = False) -> dict:
    """Run config for one episode run: the options as op config, plus the loggers."""
    op_config = {**(options or RunOptions()).model_dump(), "video": video}
    return {"ops": {ANALYSIS_OP: {"config": op_config}}, "loggers": logger_config(echo)}


episode_job = dg.define_asset_job(
    EPISODE_JOB,
    selection=dg.AssetSelection.groups("episodes"),
    partitions_def=episode_partitions,
    config=episode_run_config(),
    description="Analyse one episode: frames, detections, tracks, crops, then the manifest.",
)
