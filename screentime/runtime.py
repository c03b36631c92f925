"""Process-wide settings that must be in place before torch, onnxruntime or ultralytics load.

Importing ultralytics sets OMP_NUM_THREADS=1 when it is unset, and by default it may try the
network (settings sync, asset downloads) or pip (auto-install). We pin all of that down here,
once, for every entry point (CLI, Dagster code server, API, tests).
"""

from __future__ import annotations

import os
from pathlib import Path


def default_threads() -> int:
    return max(1, os.cpu_count() or 1)


def configure_runtime() -> None:
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "0")
    os.environ.setdefault("YOLO_VERBOSE", "0")
    # FFmpeg's own log lines ("moov atom not found") duplicate our one-line VideoError messages.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(Path.cwd() / ".yolo_config"))
    threads = os.environ.get("SCREENTIME_THREADS") or str(default_threads())
    os.environ.setdefault("OMP_NUM_THREADS", threads)
    os.environ.setdefault("MKL_NUM_THREADS", threads)
