"""Screentime: turn TV episodes into face data (frames, detections, tracks, crops, manifests).

This package is the framework-free core; the Dagster layer lives in `screentime.pipelines`,
`screentime.assets` and `screentime.resources`, the progress sidecar in `screentime.progress_api`.

Importing it changes nothing in the process: the environment the native libraries need is set by
each entry point calling `screentime.runtime.configure_runtime` (see that module).
"""

__version__ = "0.1.0"
