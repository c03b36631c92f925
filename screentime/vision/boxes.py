"""`FaceBoxes`: the one type for face detections, from the detector to the Parquet file.

Aligned numpy arrays, one row per face (as supervision's `Detections`): boxes in source-pixel
(x1, y1, x2, y2), scores, and five landmarks (eyes, nose, mouth corners) or NaN when the detector
gives none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FaceBoxes:
    xyxy: np.ndarray  # (N, 4) float32
    score: np.ndarray  # (N,) float32
    landmarks: np.ndarray  # (N, 5, 2) float32, NaN when unavailable

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        if self.xyxy.shape != (n, 4) or self.score.shape != (n,) or self.landmarks.shape != (n, 5, 2):
            raise ValueError("FaceBoxes arrays are not aligned")

    def __len__(self) -> int:
        return len(self.xyxy)

    @classmethod
    def empty(cls) -> "FaceBoxes":
        return cls(
            np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0, 5, 2), np.float32)
        )

    def __getitem__(self, index) -> "FaceBoxes":
        return FaceBoxes(self.xyxy[index], self.score[index], self.landmarks[index])

    def clipped(self, width: int, height: int) -> "FaceBoxes":
        """Boxes clipped to the frame (detectors may reach slightly past the border)."""
        xyxy = self.xyxy.copy()
        xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, width)
        xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, height)
        keep = (xyxy[:, 2] - xyxy[:, 0] >= 1) & (xyxy[:, 3] - xyxy[:, 1] >= 1)
        return FaceBoxes(xyxy[keep], self.score[keep], self.landmarks[keep])


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between every box of `a` (N, 4) and `b` (M, 4), xyxy."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)
