"""The few face chips per track that embeddings are computed from, taken in the single pass.

Embedding every face of every frame would cost more than detecting them; a track's identity is
in a few sharp, large, frontal views. So while frames stream by, each track keeps its best face
(`face_quality`) in each stretch of `segment_s` seconds, and at most `per_track` of
them, always with the first and last stretch (a face that changes within a track, a missed cut,
shows as a distance between its ends). The chips are small JPEGs with the face box and landmarks
in chip coordinates, so the embeddings asset never decodes the video again.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pyarrow as pa

from screentime.contracts.tables import FACES_SCHEMA

CHIP_MARGIN = 0.5  # of the face box's size, on each side: the aligner needs some context
CHIP_FACE_PX = 160  # faces larger than this are scaled down to it; smaller ones are kept as they are


@dataclass
class FaceSample:
    track_id: int
    frame_index: int
    timestamp_s: float
    score: float
    quality: float
    box: np.ndarray  # (4,) in chip pixels
    landmarks: np.ndarray  # (5, 2) in chip pixels
    jpeg: bytes


FULL_WIDTH_PX = 100.0  # past this width the embedder's 150 px chip gains nothing


def face_quality(score: float, box: np.ndarray, frame_width: int, frame_height: int) -> float:
    """Detector score (sharp, frontal, unhidden faces score higher) times width up to 100 px, halved
    for a face cut by the frame's edge (measured: such faces embed up to 4x farther from themselves)."""
    width = float(box[2] - box[0])
    quality = float(score) * min(1.0, max(width, 0.0) / FULL_WIDTH_PX)
    cut = box[0] <= 1 or box[1] <= 1 or box[2] >= frame_width - 1 or box[3] >= frame_height - 1
    return quality * (0.5 if cut else 1.0)


def face_chip(image: np.ndarray, box: np.ndarray, landmarks: np.ndarray,
              jpeg_quality: int = 92) -> tuple[bytes, np.ndarray, np.ndarray]:
    """A JPEG of the face with a margin, scaled so the face is at most CHIP_FACE_PX wide."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    mx, my = (x2 - x1) * CHIP_MARGIN, (y2 - y1) * CHIP_MARGIN
    cx1, cy1 = max(0, int(x1 - mx)), max(0, int(y1 - my))
    cx2, cy2 = min(w, int(np.ceil(x2 + mx))), min(h, int(np.ceil(y2 + my)))
    chip = image[cy1:cy2, cx1:cx2]
    scale = min(1.0, CHIP_FACE_PX / max(x2 - x1, y2 - y1, 1.0))
    if scale < 1.0:
        chip = cv2.resize(chip, (max(1, round(chip.shape[1] * scale)), max(1, round(chip.shape[0] * scale))),
                          interpolation=cv2.INTER_AREA)
    offset = np.array([cx1, cy1], np.float32)
    chip_box = ((np.asarray(box, np.float32).reshape(2, 2) - offset) * scale).reshape(4)
    chip_landmarks = (np.asarray(landmarks, np.float32).reshape(5, 2) - offset) * scale
    ok, data = cv2.imencode(".jpg", chip, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    if not ok:
        raise ValueError("could not encode a face chip")
    return data.tobytes(), chip_box, chip_landmarks


class FaceSampler:
    """Keeps the best face of each track per `segment_s` seconds, at most `per_track` per track."""

    def __init__(self, segment_s: float = 2.0, per_track: int = 3):
        self.segment_s = segment_s
        self.per_track = max(2, per_track)
        self._start: dict[int, float] = {}
        self._best: dict[int, dict[int, FaceSample]] = {}  # track -> segment -> sample

    def offer(self, track_id: int, frame_index: int, timestamp_s: float, score: float, box: np.ndarray,
              landmarks: np.ndarray, image: np.ndarray) -> None:
        start = self._start.setdefault(track_id, timestamp_s)
        segment = int((timestamp_s - start) // self.segment_s) if self.segment_s > 0 else 0
        quality = face_quality(score, box, image.shape[1], image.shape[0])
        segments = self._best.setdefault(track_id, {})
        current = segments.get(segment)
        if current is not None and current.quality >= quality:
            return
        if not np.isfinite(landmarks).all():
            return  # the aligner needs the 5 landmarks (every RetinaFace box has them)
        jpeg, chip_box, chip_landmarks = face_chip(image, box, landmarks)
        segments[segment] = FaceSample(track_id, frame_index, timestamp_s, float(score), quality, chip_box,
                                       chip_landmarks, jpeg)
        if len(segments) > self.per_track:  # drop the worst of the middle stretches; keep both ends
            first, last = min(segments), max(segments)
            middle = [s for s in segments if s not in (first, last)]
            del segments[min(middle, key=lambda s: segments[s].quality)]

    def table(self) -> pa.Table:
        rows = []
        for track_id in sorted(self._best):
            for segment in sorted(self._best[track_id]):
                s = self._best[track_id][segment]
                rows.append({
                    "track_id": s.track_id, "frame_index": s.frame_index, "timestamp_s": s.timestamp_s,
                    "score": s.score, "x1": float(s.box[0]), "y1": float(s.box[1]), "x2": float(s.box[2]),
                    "y2": float(s.box[3]), "landmarks": s.landmarks.reshape(10).tolist(), "jpeg": s.jpeg,
                })
        return pa.Table.from_pylist(rows, schema=FACES_SCHEMA)
