"""The Dagster instance the CLI shares with `dagster dev`: DAGSTER_HOME, default `./.dagster_home`."""

from __future__ import annotations

import os
import shutil
from importlib import resources
from pathlib import Path

from screentime.contracts.settings import load_settings


def ensure_dagster_home() -> Path:
    """Set DAGSTER_HOME (default ./.dagster_home), create it, and seed our dagster.yaml once.

    Dagster itself reads DAGSTER_HOME (`DagsterInstance.get()`, and the processes it starts), so the
    resolved folder is written back to the environment, explicitly, here."""
    home = Path(load_settings().dagster_home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    config = home / "dagster.yaml"
    template = resources.files("screentime.pipelines").joinpath("dagster.yaml")
    if not config.exists() and template.is_file():
        with resources.as_file(template) as source:
            shutil.copyfile(source, config)
    return home
