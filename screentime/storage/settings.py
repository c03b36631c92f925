"""Where artifacts live: the storage section of the one settings model (screentime/contracts/settings.py).

Kept as an import path: `from screentime.storage.settings import StorageSettings` (the Dagster storage
resource mirrors it). From the environment: `load_settings().storage`.
"""

from screentime.contracts.settings import StorageSettings, check_region, load_settings

__all__ = ["StorageSettings", "check_region", "load_settings"]
