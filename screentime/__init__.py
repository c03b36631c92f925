"""Screentime: turn TV episodes into face data (frames, detections, tracks, crops, manifests).

This package is the framework-free core; the Dagster layer lives in `screentime.pipelines`,
`screentime.assets` and `screentime.resources`, the progress sidecar in `screentime.progress_api`.
"""

from screentime.runtime import configure_runtime

configure_runtime()

__version__ = "0.1.0"
