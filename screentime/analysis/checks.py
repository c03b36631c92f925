"""Data-quality checks on an episode's tables (run as Dagster asset checks, callable directly)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def boxes_mostly_outside(xyxy: np.ndarray, width: int, height: int, max_outside: float = 0.5) -> int:
    """How many of the detector's boxes (before clipping) are degenerate or lie mostly outside the frame.

    Detectors reach a few pixels past the border, and the pipeline clips that; a box with most of
    its area outside is a detector returning the wrong coordinates (e.g. its input's, not the
    source's), which clipping would otherwise hide.
    """
    if len(xyxy) == 0:
        return 0
    x1, y1, x2, y2 = (xyxy[:, i].astype(np.float64) for i in range(4))
    area = (x2 - x1) * (y2 - y1)
    inside = (np.clip(np.minimum(x2, width) - np.maximum(x1, 0), 0, None)
              * np.clip(np.minimum(y2, height) - np.maximum(y1, 0), 0, None))
    bad = (area <= 0) | ~np.isfinite(area) | (inside < (1 - max_outside) * np.maximum(area, 1e-9))
    return int(np.count_nonzero(bad))


def boxes_outside_frame(detections: pa.Table, width: int, height: int) -> int:
    """How many stored boxes are degenerate or reach outside the frame."""
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
