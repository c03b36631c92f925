"""An ultralytics YOLO face model from a local weights file the user trained (never downloaded)."""

from __future__ import annotations

import hashlib
import math
from importlib import metadata
from pathlib import Path

import numpy as np

from screentime.contracts.errors import InvalidOption
from screentime.vision.boxes import FaceBoxes
from screentime.vision.detectors.base import DetectorInfo, FaceDetector

YOLO_STRIDE = 32  # a YOLO model's input sides are multiples of its largest stride


class YoloFaceDetector(FaceDetector):
    """An ultralytics YOLO face model from a local weights file (boxes; keypoints when it has 5)."""

    def __init__(self, weights: str, device: str):
        path = Path(weights).expanduser()
        if not path.is_file():
            raise InvalidOption(f"detector_weights not found: {path} (yolo weights are never downloaded)")
        from ultralytics import YOLO

        self.model = YOLO(str(path))
        self.device = device
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        self.info = DetectorInfo(
            name=f"yolo:{path.name}", version=f"ultralytics {metadata.version('ultralytics-opencv-headless')}",
            weights_sha256=digest, backend=f"ultralytics ({device})",
        )

    def detect(self, images: list[np.ndarray], scale: float, min_score: float) -> list[FaceBoxes]:
        # At the size it is given (the rung the small-face rule chose), padded to the model's stride;
        # a fixed imgsz would shrink a larger rung back down.
        height, width = images[0].shape[:2]
        results = self.model.predict(
            images, imgsz=YOLO_STRIDE * math.ceil(max(height, width) / YOLO_STRIDE), conf=min_score,
            device=self.device, verbose=False,
        )
        out = []
        for result in results:
            boxes = result.boxes
            xyxy = boxes.xyxy.cpu().numpy().astype(np.float32) / scale
            score = boxes.conf.cpu().numpy().astype(np.float32)
            marks = np.full((len(xyxy), 5, 2), np.nan, np.float32)
            kpts = getattr(result, "keypoints", None)
            if kpts is not None and kpts.xy is not None and kpts.xy.shape[1] == 5:
                marks = kpts.xy.cpu().numpy().astype(np.float32) / scale
            out.append(FaceBoxes(xyxy, score, marks))
        return out
