"""Data-quality checks on an episode's tables (run as Dagster asset checks, callable directly)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def boxes_outside_frame(detections: pa.Table, width: int, height: int) -> int:
    """How many boxes are degenerate or reach outside the frame."""
    if detections.num_rows == 0:
        return 0
    x1, y1, x2, y2 = (detections[c].to_numpy() for c in ("x1", "y1", "x2", "y2"))
    bad = (x1 < 0) | (y1 < 0) | (x2 > width) | (y2 > height) | (x2 <= x1) | (y2 <= y1)
    return int(np.count_nonzero(bad))


def tracks_outside_episode(tracks: pa.Table, frame_count: int) -> int:
    """How many tracks have frames outside [0, frame_count) or end before they start."""
    if tracks.num_rows == 0:
        return 0
    first, last = tracks["first_frame"].to_numpy(), tracks["last_frame"].to_numpy()
    bad = (first < 0) | (last >= frame_count) | (last < first)
    return int(np.count_nonzero(bad))
