"""Face chips aligned the way recognition models are trained: a similarity transform (rotation,
uniform scale, shift) that puts the detector's five landmarks (eyes, nose tip, mouth corners) on
the usual 5-point template of 112 px ArcFace-style chips, scaled to the model's input size.

A face without usable landmarks (the yolo detector has none) falls back to the square around its
box, so every face still gets a chip.
"""

from __future__ import annotations

import cv2
import numpy as np

# Left eye, right eye, nose tip, left and right mouth corner (image left first), in a 112 px chip.
TEMPLATE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                         [41.5493, 92.3655], [70.7299, 92.2041]], np.float32)


def usable_landmarks(landmarks: np.ndarray | None) -> bool:
    """Five finite points whose eyes are apart and above the mouth."""
    if landmarks is None:
        return False
    points = np.asarray(landmarks, np.float32).reshape(-1, 2)
    if points.shape != (5, 2) or not np.isfinite(points).all():
        return False
    eye_gap = float(np.linalg.norm(points[1] - points[0]))
    return eye_gap >= 2.0 and float(points[3:, 1].mean()) > float(points[:2, 1].mean())


def align_face(image: np.ndarray, box: np.ndarray, landmarks: np.ndarray | None, size: int) -> np.ndarray:
    """A `size` x `size` chip of the face in `image` (BGR or grey uint8), aligned on its landmarks."""
    if usable_landmarks(landmarks):
        target = TEMPLATE_112 * (size / 112.0)
        matrix, _ = cv2.estimateAffinePartial2D(np.asarray(landmarks, np.float32).reshape(5, 2), target,
                                                method=cv2.LMEDS)
        if matrix is not None:
            return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REPLICATE)
    x1, y1, x2, y2 = (float(v) for v in box)
    cx, cy, half = (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1, 2.0) / 2
    source = np.float32([[cx - half, cy - half], [cx + half, cy - half], [cx - half, cy + half]])
    target = np.float32([[0, 0], [size, 0], [0, size]])
    return cv2.warpAffine(image, cv2.getAffineTransform(source, target), (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
