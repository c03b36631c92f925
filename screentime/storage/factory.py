"""Opens the configured storage root: a local directory or an S3 prefix."""

from __future__ import annotations

from screentime.contracts.errors import InvalidOption
from screentime.storage.base import Storage
from screentime.storage.local import LocalStorage
from screentime.storage.settings import StorageSettings


def open_storage(settings: StorageSettings) -> Storage:
    if settings.backend == "local":
        return LocalStorage(settings.data_dir)
    if settings.backend == "s3":
        from screentime.storage.s3 import S3Storage  # boto3 is imported only when configured

        return S3Storage.from_settings(settings)
    raise InvalidOption(f"unknown STORAGE_BACKEND {settings.backend!r}: use local or s3")
