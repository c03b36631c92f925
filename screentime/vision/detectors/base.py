"""What every face detector is: a batch of same-sized BGR frames in, one `FaceBoxes` per frame out,
in source pixels; and what a manifest records of it (`DetectorInfo`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from screentime.vision.boxes import FaceBoxes


@dataclass(frozen=True)
class DetectorInfo:
    name: str
    version: str
    weights_sha256: str
    backend: str

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "version": self.version,
            "weights_sha256": self.weights_sha256,
            "backend": self.backend,
        }


class FaceDetector:
    info: DetectorInfo

    def detect(self, images: list[np.ndarray], scale: float, min_score: float) -> list[FaceBoxes]:
        """Detect faces in same-sized BGR images scaled by `scale` from the source."""
        raise NotImplementedError
