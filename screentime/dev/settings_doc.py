"""docs/settings.md, generated from the settings models: `.venv/bin/python -m screentime.dev.settings_doc`.

tests/test_settings.py fails when the committed file and the models differ, so the reference cannot drift.
"""

from __future__ import annotations

import sys
from pathlib import Path

from screentime.contracts.settings import Settings, reference_rows
from screentime.progress_api.settings import ApiSettings

DOC = Path(__file__).resolve().parents[2] / "docs" / "settings.md"
HEAD = "| variable | default | valid values | what it sets |\n|---|---|---|---|"


def reference_markdown() -> str:
    """Every variable Screentime reads: the core's `Settings`, then the progress API's own."""
    return "\n".join([
        "# Settings: every environment variable",
        "",
        "<!-- Generated from screentime/contracts/settings.py and screentime/progress_api/settings.py by",
        "     `.venv/bin/python -m screentime.dev.settings_doc`; tests/test_settings.py fails when this",
        "     file and the models differ. Edit the models, not this file. -->",
        "",
        "Screentime reads these variables, and no others, through one pydantic-settings model,",
        "`screentime.contracts.settings.Settings`; the progress API's are its subclass `ApiSettings`.",
        "An empty variable counts as unset. A bad value stops the command before it does anything, with",
        "one line naming the variable and what it must be (the CLI exits 2). Names are case-sensitive.",
        "",
        "## Pipeline, storage and CLI",
        "",
        HEAD,
        *reference_rows(Settings),
        "",
        "## Progress API",
        "",
        "`screentime api` ([progress.md](progress.md#settings)) reads the variables above too (its storage is "
        "the pipeline's), and these.",
        "",
        HEAD,
        *reference_rows(ApiSettings),
        "",
        "## Set for the libraries, not read",
        "",
        "Every entry point (the `screentime` command, the Dagster code location, the tests) calls",
        "`screentime.runtime.configure_runtime` before torch, onnxruntime or ultralytics load. Unless you",
        "set them, it sets `YOLO_OFFLINE=1`, `YOLO_AUTOINSTALL=0`, `YOLO_VERBOSE=0`,",
        "`OPENCV_FFMPEG_LOGLEVEL=-8`, `YOLO_CONFIG_DIR=./.yolo_config`, and `OMP_NUM_THREADS` and",
        "`MKL_NUM_THREADS` to `SCREENTIME_THREADS` (ultralytics would otherwise set `OMP_NUM_THREADS=1`, and",
        "might try the network). Nothing is downloaded at run time.",
        "",
        "Tests only: `SCREENTIME_TEST_MEDIA` (another folder holding the test clips,",
        "[guarantees.md](guarantees.md#how-the-tests-run)).",
        "",
    ])


def main() -> int:
    if "--write" in sys.argv[1:]:
        DOC.write_text(reference_markdown())
    else:
        sys.stdout.write(reference_markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
