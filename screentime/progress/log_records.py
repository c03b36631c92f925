"""How a progress record travels through a Dagster log call to the progress logger.

Assets log progress with `extra=progress_extra(record, storage)`; the logger reads the two
attributes back and writes the record through the storage they name. Plain data, so the assets
and the logger agree without importing each other.
"""

from __future__ import annotations

from screentime.contracts.progress import ProgressRecord
from screentime.storage.settings import StorageSettings

PROGRESS = "screentime_progress"
STORAGE = "screentime_storage"


def progress_extra(record: ProgressRecord, settings: StorageSettings) -> dict:
    return {PROGRESS: record.model_dump(), STORAGE: settings.storage_settings().model_dump_json()}
