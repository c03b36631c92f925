"""Face tracks over time with ultralytics' BYTETracker, fed with our own detections.

Each analysed frame's `FaceBoxes` go in; every detection comes back with its track id (-1 while
a new track is still unconfirmed). Per track we keep first/last frame, timestamps, boxes and
scores, and emit them as one table at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from importlib.metadata import version
from types import SimpleNamespace

import numpy as np
import yaml

from screentime.vision.boxes import FaceBoxes


def tracker_identity() -> dict:
    """The tracker's name and version (its settings come from `load_tracker_settings`)."""
    return {"name": "bytetrack", "version": f"ultralytics {version('ultralytics-opencv-headless')}"}


def load_tracker_settings() -> dict:
    text = resources.files("screentime.vision").joinpath("bytetrack.yaml").read_text()
    return yaml.safe_load(text)


class _TrackerInput:
    """The Results-like view BYTETracker reads: conf, cls, xywh, len() and boolean indexing."""

    def __init__(self, conf: np.ndarray, xywh: np.ndarray):
        self.conf = conf
        self.xywh = xywh
        self.cls = np.zeros(len(conf), np.float32)

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, index) -> "_TrackerInput":
        return _TrackerInput(self.conf[index], self.xywh[index])


@dataclass
class TrackSummary:
    track_id: int
    shot: int = 0
    frames: list[int] = field(default_factory=list)
    timestamps: list[float] = field(default_factory=list)
    boxes: list[list[float]] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)

    def add(self, frame_index: int, timestamp_s: float, box: np.ndarray, score: float) -> None:
        self.frames.append(frame_index)
        self.timestamps.append(timestamp_s)
        self.boxes.append([float(v) for v in box])
        self.scores.append(float(score))


class FaceTracker:
    def __init__(self, analysis_fps: float):
        from ultralytics.trackers.byte_tracker import BYTETracker

        settings = load_tracker_settings()
        buffer_s = float(settings.pop("track_buffer_s"))
        settings["track_buffer"] = max(1, round(buffer_s * analysis_fps))
        self.settings = {**settings, "track_buffer_s": buffer_s}
        self._tracker = BYTETracker(SimpleNamespace(**settings))
        self.tracks: dict[int, TrackSummary] = {}
        self._shot = 0

    @property
    def info(self) -> dict:
        return {**tracker_identity(), "settings": self.settings}

    def cut(self) -> None:
        """A shot cut: every track ends here, and faces after it start new tracks. ByteTrack
        matches by box overlap, so it would otherwise carry a track from one close-up to the next.
        Track ids keep counting (BYTETracker.reset() would restart them and reuse ids)."""
        self._tracker.tracked_stracks, self._tracker.lost_stracks, self._tracker.removed_stracks = [], [], []
        self._shot += 1

    def update(self, frame_index: int, timestamp_s: float, faces: FaceBoxes) -> np.ndarray:
        """Advance one analysed frame; return each detection's track id (-1 = none yet)."""
        xyxy = faces.xyxy
        xywh = np.column_stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, (xyxy[:, 1] + xyxy[:, 3]) / 2,
                                xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]]).astype(np.float32)
        out = self._tracker.update(_TrackerInput(faces.score, xywh.reshape(-1, 4)))
        ids = np.full(len(faces), -1, np.int32)
        for row in out:
            track_id, det_index = int(row[4]), int(row[7])
            ids[det_index] = track_id
            summary = self.tracks.setdefault(track_id, TrackSummary(track_id, shot=self._shot))
            summary.add(frame_index, timestamp_s, xyxy[det_index], faces.score[det_index])
        return ids
