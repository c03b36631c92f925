"""Dagster resources and IO managers: the thin layer over `screentime.storage`."""

from screentime.resources.io_managers import EpisodeTableIOManager
from screentime.resources.storage import StorageResource

__all__ = ["EpisodeTableIOManager", "StorageResource"]
