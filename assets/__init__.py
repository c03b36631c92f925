"""Dagster assets: the episode's single pass (frames, detections, tracks, crops, shots, faces),
who is on screen (embeddings, people, screentime), the manifest, and the show roll-up."""

from screentime.assets.checks import EPISODE_CHECKS
from screentime.assets.episode import EpisodeConfig, episode_analysis, manifests
from screentime.assets.identity import embeddings, people, screentime
from screentime.assets.show import show_people

__all__ = ["EPISODE_CHECKS", "EpisodeConfig", "embeddings", "episode_analysis", "manifests", "people", "screentime",
           "show_people"]
