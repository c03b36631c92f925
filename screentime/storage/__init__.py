"""The storage layer: one root for every artifact, a local directory or an S3 prefix.

`open_storage(load_settings().storage)` opens whichever is configured; both keep the same keys
(`screentime.contracts.layout`) and write atomically.
"""

from screentime.storage.base import Storage, check_key, content_type_for
from screentime.storage.factory import open_storage
from screentime.storage.local import LocalStorage
from screentime.storage.settings import StorageSettings

__all__ = ["LocalStorage", "Storage", "StorageSettings", "check_key", "content_type_for", "open_storage"]
