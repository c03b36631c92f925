"""Dagster assets: frames, detections, tracks, crops and manifests, partitioned by episode."""

from screentime.assets.episode import EpisodeConfig, episode_analysis, manifests

__all__ = ["EpisodeConfig", "episode_analysis", "manifests"]
