"""Run options: the seed system's flags, kept. One model serves the CLI, Dagster run config and API.

`screentime.assets` extends this model into a `dagster.Config`, so the launchpad shows the same
names, defaults and descriptions as `screentime run --help`.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DETECTORS = ("retinaface", "yolo")
_DEVICE = re.compile(r"auto|cpu|cuda(:\d{1,2})?")


class RunOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # NaN passes every bound check

    fps: float = Field(
        default=0.0, ge=0.0, le=240.0,
        description="Analysis rate in frames per second; 0 analyses every frame at the source rate.",
    )
    save_frames: bool = Field(default=False, description="Export every analysed frame as JPEG.")
    save_crops: bool = Field(default=True, description="Export face crops per track as JPEG.")
    jpeg_quality: int = Field(default=90, ge=1, le=100, description="JPEG quality (1-100).")
    device: str = Field(
        default="auto", description="auto (CUDA when present), cpu, cuda or cuda:N."
    )
    detector: str = Field(
        default="retinaface",
        description="Face detector: retinaface (shipped weights) or yolo (needs detector_weights).",
    )
    detector_weights: str = Field(
        default="",
        description="Local weights file for the yolo detector (a face model you trained). Never downloaded.",
    )
    det_size: int = Field(
        default=320, ge=0, le=4096,
        description="Longest side, in pixels, of the detector's smallest input; 0 = the source size. "
        "Frames larger than this are scaled down once before detection; shots with small faces are "
        "detected at a larger input (see small_face_px).",
    )
    small_face_px: int = Field(
        default=16, ge=0, le=256,
        description="Shots with a face smaller than this many pixels at their detector input go to a larger "
        "input (det_size doubled, up to full size or 1920 px), so wide shots keep their faces; "
        "0 = always det_size.",
    )
    full_detect_every: int = Field(
        default=0, ge=0, le=1000,
        description="In shots detected above det_size (small faces), detect the whole frame only every this many "
        "analysed frames (and at every cut); in between, faces follow the picture by optical flow and only the "
        "strips of new picture at the edges are detected, so a face appearing inside the frame is found within "
        "this many frames. 1 = every frame in full; 0 = auto: 8 on the CPU, 1 on CUDA (where batches of frames "
        "detect faster than the flow follows). Close and medium shots (det_size) are always detected whole.",
    )
    min_score: float = Field(default=0.5, gt=0.0, lt=1.0, description="Minimum face score kept.")
    batch_size: int = Field(
        default=0, ge=0, le=256,
        description="Frames per detector call; 0 = auto (2 on the CPU, where bigger batches are slower "
        "per frame, 32 on CUDA).",
    )
    crop_every_s: float = Field(
        default=1.0, ge=0.0, le=3600.0,
        description="Seconds between saved crops of one track (0 = a crop on every analysed frame).",
    )

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        if not _DEVICE.fullmatch(value):
            raise ValueError(f"unknown device {value!r}: use auto, cpu, cuda or cuda:N")
        return value

    @field_validator("detector")
    @classmethod
    def _check_detector(cls, value: str) -> str:
        if value not in DETECTORS:
            raise ValueError(f"unknown detector {value!r}: use one of {', '.join(DETECTORS)}")
        return value

    @model_validator(mode="after")
    def _check_weights(self) -> "RunOptions":
        if self.detector == "yolo" and not self.detector_weights:
            raise ValueError("detector 'yolo' needs detector_weights: a local .pt/.onnx file")
        if self.det_size and self.det_size < 64:
            raise ValueError("det_size must be 0 (source size) or at least 64")
        return self

    def run_options(self) -> "RunOptions":
        """The plain options, without any fields a subclass (e.g. Dagster config) adds."""
        return RunOptions(**{name: getattr(self, name) for name in RunOptions.model_fields})


def describe_validation_error(exc: Exception) -> str:
    """One line out of a pydantic ValidationError: `field: message; field: message`."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    parts = []
    for err in errors():
        where = ".".join(str(p) for p in err.get("loc", ())) or "options"
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)
