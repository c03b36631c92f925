"""The code location: `dagster dev -w workspace.yaml` loads `defs` from here.

It is an entry point (every code server and run worker imports it first), so it sets the process's
runtime environment before the assets import torch, onnxruntime or ultralytics.
"""
# ruff: noqa: E402  (the imports below must come after configure_runtime)

from screentime.contracts.settings import load_settings
from screentime.runtime import configure_runtime

configure_runtime(load_settings().threads)

import dagster as dg

from screentime.assets import (
    EPISODE_CHECKS,
    embeddings,
    episode_analysis,
    manifests,
    people,
    screentime,
    show_people,
)
from screentime.pipelines.jobs import episode_job
from screentime.pipelines.loggers import console_logger, progress_logger
from screentime.pipelines.progress_sensors import progress_sensors
from screentime.pipelines.run_monitor import episode_run_monitor
from screentime.pipelines.schedules import nightly_catch_up
from screentime.pipelines.sensors import episode_discovery
from screentime.pipelines.show_sensors import people_edits, show_job, show_rollup
from screentime.resources import EpisodeTableIOManager, StorageResource


def build_defs(storage: StorageResource) -> dg.Definitions:
    """The whole Screentime code location over one storage (tests pass a temporary one)."""
    tables = EpisodeTableIOManager(storage=storage)
    return dg.Definitions(
        assets=[episode_analysis, embeddings, people, screentime, manifests, show_people],
        asset_checks=list(EPISODE_CHECKS),  # every `episode_check`, as declared when defs are built
        jobs=[episode_job, show_job],
        sensors=[*progress_sensors, episode_run_monitor, episode_discovery, show_rollup, people_edits],
        schedules=[nightly_catch_up],
        loggers={"progress": progress_logger, "console": console_logger},
        resources={
            "storage": storage,
            "table_io_manager": tables,
            # The default key too: every output goes through the table manager, and without this
            # Dagster adds an unused pickling `io_manager` to each job (shown on the launchpad).
            "io_manager": tables,
        },
    )


storage = StorageResource.from_env()
defs = build_defs(storage)
