"""The storage resource: local disk by default, S3 when configured (same layout in both)."""


import dagster as dg
from pydantic import PrivateAttr

from screentime.contracts.settings import load_settings
from screentime.storage import Storage, StorageSettings, open_storage


class StorageResource(dg.ConfigurableResource, StorageSettings):
    """Where every artifact goes. Defaults come from the environment (docs/settings.md)."""

    _storage: Storage | None = PrivateAttr(default=None)

    @classmethod
    def from_env(cls) -> "StorageResource":
        return cls(**load_settings().storage.model_dump())

    def get_storage(self) -> Storage:
        if self._storage is None:
            self._storage = open_storage(self)
        return self._storage
