"""Face tracks over time with ultralytics' BYTETracker, fed with our own detections.

Each analysed frame's `FaceBoxes` go in; every detection comes back with its track id (-1 while
a new track is still unconfirmed). Per track we keep first/last frame, timestamps, boxes and
scores, and emit them as one table at the end.

ByteTrack confirms a new track on its second frame and reports it only from then on, so every
track would start one analysed frame late: a face's first frame in each shot would be nobody's
screen time. The tracker keeps each unconfirmed track's first detection and, when the track is
confirmed, puts it back at the track's start (`FaceTracker.confirmed`); a track never confirmed
(a one-frame false detection) is dropped, as ByteTrack means it to be.
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
        self._births: dict[int, tuple[int, float, np.ndarray, float, int]] = {}  # unconfirmed tracks' first detections
        self.confirmed: list[tuple[int, int]] = []  # after update(): (detection index in the previous frame, track id)

    @property
    def info(self) -> dict:
        return {**tracker_identity(), "settings": self.settings}

    def cut(self) -> None:
        """A shot cut: every track ends here, and faces after it start new tracks. ByteTrack
        matches by box overlap, so it would otherwise carry a track from one close-up to the next.
        Track ids keep counting (BYTETracker.reset() would restart them and reuse ids)."""
        self._tracker.tracked_stracks, self._tracker.lost_stracks, self._tracker.removed_stracks = [], [], []
        self._births.clear()
        self._shot += 1

    def update(self, frame_index: int, timestamp_s: float, faces: FaceBoxes) -> np.ndarray:
        """Advance one analysed frame; return each detection's track id (-1 = no confirmed track).

        `confirmed` then lists the tracks confirmed by this frame whose first detection was in the
        previous analysed frame, as (that frame's detection index, track id): the caller gives
        that earlier detection its track id too."""
        xyxy = faces.xyxy
        xywh = np.column_stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, (xyxy[:, 1] + xyxy[:, 3]) / 2,
                                xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]]).astype(np.float32)
        out = self._tracker.update(_TrackerInput(faces.score, xywh.reshape(-1, 4)))
        ids = np.full(len(faces), -1, np.int32)
        self.confirmed = []
        for row in out:
            track_id, det_index = int(row[4]), int(row[7])
            ids[det_index] = track_id
            summary = self.tracks.get(track_id)
            if summary is None:
                summary = self.tracks[track_id] = TrackSummary(track_id, shot=self._shot)
                birth = self._births.get(track_id)
                if birth is not None:
                    summary.add(*birth[:4])
                    self.confirmed.append((birth[4], track_id))
            summary.add(frame_index, timestamp_s, xyxy[det_index], faces.score[det_index])
        # ByteTrack keeps an unconfirmed track for one frame only: remember this frame's new ones
        self._births = {t.track_id: (frame_index, timestamp_s, xyxy[int(t.idx)].copy(), float(faces.score[int(t.idx)]),
                                     int(t.idx))
                        for t in self._tracker.tracked_stracks if not t.is_activated}
        return ids
