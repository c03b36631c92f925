"""The one function that builds an episode run's config, for every launch path.

Every path (UI launchpad, CLI, sensors, schedules, API) runs with the progress logger on: the
job's default config names it for the launchpad, and `episode_run_config` names it for code.
A run config that names loggers replaces Dagster's default console logger, so we name both.
"""

from __future__ import annotations

from screentime.contracts.names import ANALYSIS_OP, PROGRESS_LOGGER
from screentime.contracts.options import RunOptions


def logger_config(echo: bool = False) -> dict:
    return {
        PROGRESS_LOGGER: {"config": {"echo": echo}},
        "console": {"config": {"log_level": "INFO"}},
    }


def episode_run_config(options: RunOptions | None = None, video: str = "", echo: bool = False) -> dict:
    """Run config for one episode run: the options as op config, plus the loggers."""
    op_config = {**(options or RunOptions()).model_dump(), "video": video}
    return {"ops": {ANALYSIS_OP: {"config": op_config}}, "loggers": logger_config(echo)}
