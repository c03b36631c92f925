"""Process-wide settings that must be in place before torch, onnxruntime or ultralytics load.

Importing ultralytics sets OMP_NUM_THREADS=1 when it is unset, and by default it may try the
network (settings sync, asset downloads) or pip (auto-install); FFmpeg (in OpenCV) prints its own
log lines beside our one-line errors. `configure_runtime` pins all of that down, once per process.
It changes the process's environment, so nothing calls it on import: each entry point calls it
first thing (the `screentime` command's `main`, the Dagster code location
`screentime.pipelines.definitions`, which every code server and run worker loads, and the tests'
conftest), passing `load_settings().threads` (SCREENTIME_THREADS). Library code never calls it.
"""

from __future__ import annotations

import os
from pathlib import Path


def default_threads() -> int:
    return max(1, os.cpu_count() or 1)


def configure_runtime(threads: int | None = None) -> None:
    """Set, unless already set, the variables the native libraries read when they load.

    `threads` (SCREENTIME_THREADS, `Settings.threads`) sizes OMP_NUM_THREADS and MKL_NUM_THREADS;
    None: the core count."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "0")
    os.environ.setdefault("YOLO_VERBOSE", "0")
    # FFmpeg's own log lines ("moov atom not found") duplicate our one-line VideoError messages.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(Path.cwd() / ".yolo_config"))
    count = str(threads or default_threads())
    os.environ.setdefault("OMP_NUM_THREADS", count)
    os.environ.setdefault("MKL_NUM_THREADS", count)
