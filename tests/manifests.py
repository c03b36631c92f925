"""A valid manifest for tests that need one without running an analysis."""

from __future__ import annotations

from screentime.contracts.manifest import Counts, Manifest, ModelInfo, SourceVideo, Timings
from screentime.contracts.options import RunOptions


def sample_manifest(ep_id: str, run_id: str = "run-1", created_at: str = "", **extra) -> Manifest:
    return Manifest(
        ep_id=ep_id, run_id=run_id,
        source=SourceVideo(path="video.mp4", fps=25.0, frame_count=25, duration_s=1.0, width=64, height=48),
        options=RunOptions(), analysis_fps=25.0, device="cpu",
        detector=ModelInfo(name="retinaface-mobilenet0.25", version="test", weights_sha256="0" * 64),
        tracker=extra.pop("tracker", {"name": "bytetrack"}), counts=Counts(), timings=Timings(seconds=1.0, fps=25.0),
        artifacts={}, created_at=created_at, **extra,
    )
