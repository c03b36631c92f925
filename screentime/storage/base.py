"""The storage layer: one root for every artifact, a local directory or an S3 prefix
(`screentime.storage.s3`).

Keys are relative, '/'-separated paths from `screentime.contracts.layout`. Every write is atomic: a reader
sees the old object or the new one, never a torn file (temp file + rename locally,
one whole-object PUT on S3).
"""

from __future__ import annotations

import mimetypes
import os
from abc import ABC, abstractmethod
from pathlib import Path

from screentime.contracts.errors import StorageError

CONTENT_TYPES = {
    ".jpg": "image/jpeg",
    ".json": "application/json",
    ".jsonl": "application/x-ndjson",
    ".parquet": "application/vnd.apache.parquet",
}


def content_type_for(key: str) -> str:
    suffix = Path(key).suffix.lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"


def check_key(key: str) -> str:
    """Reject keys that could leave the storage root."""
    if not key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise StorageError(f"invalid storage key {key!r}")
    parts = key.rstrip("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise StorageError(f"invalid storage key {key!r}")
    return key


class Storage(ABC):
    """Where artifacts live. Implementations: LocalStorage (default) and S3Storage."""

    @property
    @abstractmethod
    def root_uri(self) -> str: ...

    def uri(self, key: str) -> str:
        return f"{self.root_uri.rstrip('/')}/{check_key(key)}"

    @abstractmethod
    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None: ...

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """Raise FileNotFoundError when the key does not exist."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def list_keys(self, prefix: str) -> list[str]: ...

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under `prefix` (a folder ending in '/'); return how many."""

    def list_folders(self, prefix: str) -> list[str]:
        """Names of the folders directly under `prefix` (a folder ending in '/')."""
        names = {key[len(prefix):].split("/", 1)[0] for key in self.list_keys(prefix) if "/" in key[len(prefix):]}
        return sorted(names)

    @abstractmethod
    def delete(self, key: str) -> None:
        """Delete one object; nothing happens when it does not exist."""

    @abstractmethod
    def append_text(self, key: str, text: str) -> None:
        """Append to a text object (progress history)."""

    @abstractmethod
    def put_new(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Create `key` only if it does not exist (atomically); FileExistsError otherwise."""

    def put_text(self, key: str, text: str, content_type: str | None = None) -> None:
        self.put_bytes(key, text.encode("utf-8"), content_type)

    def put_file(self, key: str, path: str | os.PathLike[str], content_type: str | None = None) -> None:
        """Store a local file under `key` (S3Storage streams it instead of reading it whole)."""
        self.put_bytes(key, Path(path).read_bytes(), content_type)

    def get_text(self, key: str) -> str:
        return self.get_bytes(key).decode("utf-8")

    def check_writable(self) -> None:  # noqa: B027  (a hook: backends that can check do)
        """Fail early, before any work, when the root cannot be written."""
