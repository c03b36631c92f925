"""Real face crops for the embedding tests and bench: the labelled boxes of tests/face_truth.py cut
out of the committed clips the way the pipeline stores crops (box + 20% margin a side, JPEG q90)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tests.face_truth import FACES

MEDIA = Path(os.environ.get("SCREENTIME_TEST_MEDIA") or Path(__file__).resolve().parent / "media")
CROP_MARGIN = 0.2  # as screentime.analysis.CROP_MARGIN
JPEG_QUALITY = 90  # as RunOptions.jpeg_quality's default
# group_shots.mp4 shots (tests/media/README.md): first and last frame; 0 and 3 are the mosaic.
GROUP_SHOTS = [(0, 74), (75, 124), (125, 174), (175, 224), (225, 274), (275, 324), (325, 374),
               (375, 424), (425, 474), (475, 524)]


@dataclass
class Face:
    clip: str
    person: str
    frame: int
    box: tuple[float, float, float, float]  # in the frame
    score: float
    crop: np.ndarray  # BGR
    crop_box: np.ndarray  # the box in the crop's pixels
    edge: bool  # the box touches the frame's edge: the face may be cut off

    @property
    def shot(self) -> str:
        """The shot it was filmed in: one per frame outside group_shots.mp4 (one-shot clips)."""
        if self.clip == "group_shots.mp4":
            return f"group:{next(k for k, (a, b) in enumerate(GROUP_SHOTS) if a <= self.frame <= b)}"
        return f"{self.clip}:{self.frame}"

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def mosaic(self) -> bool:
        return self.shot in ("group:0", "group:3")


def read_frames(path: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    cap, out, i = cv2.VideoCapture(str(path)), {}, 0
    try:
        while len(out) < len(wanted):
            ok, frame = cap.read()
            if not ok:
                break
            if i in wanted:
                out[i] = frame
            i += 1
    finally:
        cap.release()
    return out


def load_faces(keep=lambda clip, person, frame: True) -> list[Face]:
    """The labelled faces that `keep` accepts, with their crops."""
    rows = [r for r in FACES if keep(r[0], r[1], r[2])]
    frames = {c: read_frames(MEDIA / c, {r[2] for r in rows if r[0] == c}) for c in {r[0] for r in rows}}
    faces = []
    for clip, person, i, x1, y1, x2, y2, score in rows:
        image = frames[clip][i]
        h, w = image.shape[:2]
        dx, dy = (x2 - x1) * CROP_MARGIN, (y2 - y1) * CROP_MARGIN
        cx1, cy1 = max(0, int(x1 - dx)), max(0, int(y1 - dy))
        cx2, cy2 = min(w, int(np.ceil(x2 + dx))), min(h, int(np.ceil(y2 + dy)))
        _, jpeg = cv2.imencode(".jpg", image[cy1:cy2, cx1:cx2], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        crop = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
        faces.append(Face(clip, person, i, (x1, y1, x2, y2), score, crop,
                          np.array([x1 - cx1, y1 - cy1, x2 - cx1, y2 - cy1], dtype=np.float32),
                          edge=min(x1, y1) <= 0 or x2 >= w or y2 >= h))
    return faces
