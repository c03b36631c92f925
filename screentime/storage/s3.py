"""Artifacts in an S3 bucket (AWS or any S3-compatible server): `S3Storage` over boto3.

Objects live at `s3://<bucket>/<prefix>/artifacts/...`, the same relative keys as a local run.
Every write is one whole-object PUT (never multipart), so a reader sees the old object or the new
one, and a failed write leaves nothing half-uploaded behind.
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, NoCredentialsError
from botocore.exceptions import ConnectionError as BotoConnectionError

from screentime.contracts.errors import InvalidOption, StorageError
from screentime.storage.base import Storage, check_key, content_type_for

if TYPE_CHECKING:
    from screentime.storage.settings import StorageSettings

MAX_ATTEMPTS = 4  # botocore "standard" retries: first try + 3, backoff up to 1 + 2 + 4 s
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 60.0
# After a call has used all its retries without reaching the endpoint, later calls fail at once
# for this long instead of each waiting out its own retries (a run with hundreds of JPEG exports
# and progress writes would otherwise crawl for an hour before failing).
UNREACHABLE_COOLDOWN_S = 15.0
DELETE_BATCH = 1000  # the most keys DeleteObjects takes per request

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_CREDENTIAL_ERRORS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403",
                      "ExpiredToken", "InvalidToken", "InvalidClientTokenId"}
_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}


def validate_bucket(bucket: str) -> str:
    if not _BUCKET.fullmatch(bucket or "") or ".." in bucket:
        raise InvalidOption(f"invalid S3 bucket name {bucket!r}: 3-63 characters, lowercase letters, "
                            "digits, '.' and '-'")
    return bucket


def normalize_prefix(prefix: str) -> str:
    """'' or 'a/b' (no leading/trailing '/'); rejects '..' and empty parts."""
    prefix = (prefix or "").strip("/")
    if prefix:
        try:
            check_key(prefix)
        except StorageError as exc:
            raise InvalidOption(f"invalid S3 prefix {prefix!r} (S3_PREFIX)") from exc
    return prefix


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """'s3://bucket/some/key' -> ('bucket', 'some/key'); the key may be empty."""
    if not uri.startswith("s3://"):
        raise InvalidOption(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[len("s3://"):].partition("/")
    return validate_bucket(bucket), key


def make_client(region: str = "", endpoint_url: str = ""):
    """A boto3 S3 client with bounded retries and timeouts; credentials from the standard chain.

    `endpoint_url` (AWS_ENDPOINT_URL_S3) points it at any S3-compatible server; such servers get
    path-style addressing, which they all serve (virtual hosts need DNS set up for them).
    """
    if endpoint_url and not re.match(r"https?://[^/]+", endpoint_url):
        raise InvalidOption(f"invalid S3 endpoint URL {endpoint_url!r} (AWS_ENDPOINT_URL_S3): "
                            "expected http(s)://host[:port]")
    config = Config(
        # total_max_attempts counts the first try; the dict's "max_attempts" would count retries only.
        retries={"total_max_attempts": MAX_ATTEMPTS, "mode": "standard"},
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        s3={"addressing_style": "path" if endpoint_url else "auto"},
    )
    # A session per client: boto3 sessions are not thread-safe, the clients they make are.
    session = boto3.session.Session()
    return session.client("s3", region_name=region or None, endpoint_url=endpoint_url or None, config=config)


def client_for(settings: StorageSettings | None = None):
    """The S3 client for the configured region and endpoint (`load_settings().storage` unless given):
    the one place a client is built from the settings (artifacts, s3:// videos, videos roots)."""
    if settings is None:
        from screentime.contracts.settings import load_settings

        settings = load_settings().storage
    return make_client(settings.aws_region, settings.endpoint_url)


def iter_objects(client, bucket: str, prefix: str) -> Iterator[dict]:
    """Every object (`Key`, `Size`, `LastModified`, `ETag`) under `prefix`, page by page."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


def list_keys(client, bucket: str, prefix: str) -> list[str]:
    """Every key under `prefix` in `bucket` (e.g. a videos root to scan), sorted."""
    return sorted(obj["Key"] for obj in iter_objects(client, bucket, prefix))


def download_file(client, bucket: str, key: str, target: Path) -> None:
    """Fetch one object to a local file (a video to decode); FileNotFoundError when it is missing."""
    try:
        client.download_file(bucket, key, str(target))
    except ClientError as exc:
        if _code(exc) in _NOT_FOUND:
            raise FileNotFoundError(f"s3://{bucket}/{key} does not exist") from exc
        raise StorageError(f"download of s3://{bucket}/{key} failed: {_describe(exc)}") from exc
    except BotoCoreError as exc:
        raise StorageError(f"download of s3://{bucket}/{key} failed: {exc}") from exc


def object_exists(client, uri: str) -> bool:
    """Whether an `s3://bucket/key` object exists (a 404 is False; other errors raise StorageError)."""
    bucket, key = parse_s3_uri(uri)
    try:
        client.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as exc:
        if _code(exc) in _NOT_FOUND:
            return False
        raise StorageError(f"check of {uri} failed: {_describe(exc)}") from exc
    except BotoCoreError as exc:
        raise StorageError(f"check of {uri} failed: {exc}") from exc


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _describe(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return f"{error.get('Code', '?')}: {error.get('Message') or 'no message'}"


class S3Storage(Storage):
    def __init__(self, bucket: str, prefix: str = "", client=None, endpoint_url: str = ""):
        self.bucket = validate_bucket(bucket)
        self.prefix = normalize_prefix(prefix)
        self.client = client if client is not None else make_client(endpoint_url=endpoint_url)
        self.endpoint = endpoint_url or self.client.meta.endpoint_url
        self._down_until = 0.0
        self._down_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: StorageSettings) -> S3Storage:
        if not settings.s3_bucket:
            raise InvalidOption("STORAGE_BACKEND=s3 needs S3_BUCKET (the bucket for the artifacts)")
        client = client_for(settings)
        return cls(settings.s3_bucket, settings.s3_prefix, client, settings.endpoint_url)

    @property
    def root_uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        key = check_key(key)
        with self._errors("write", key):
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data,
                                   ContentType=content_type or content_type_for(key))

    def put_new(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """A conditional PUT (If-None-Match: *): S3 and compatible servers refuse it with 412 when
        the key exists, atomically."""
        key = check_key(key)
        with self._errors("write", key):
            try:
                self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, IfNoneMatch="*",
                                       ContentType=content_type or content_type_for(key))
            except ClientError as exc:
                if _code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                    raise FileExistsError(self.uri(key)) from exc
                raise

    def put_file(self, key: str, path: str | os.PathLike[str], content_type: str | None = None) -> None:
        """Stream a local file up in one PUT (up to S3's 5 GiB limit for a single PUT)."""
        key = check_key(key)
        with open(path, "rb") as body, self._errors("write", key):
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=body,
                                   ContentType=content_type or content_type_for(key))

    def get_bytes(self, key: str) -> bytes:
        key = check_key(key)
        with self._errors("read", key):
            try:
                return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
            except ClientError as exc:
                if _code(exc) in _NOT_FOUND:
                    raise FileNotFoundError(self.uri(key)) from exc
                raise

    def exists(self, key: str) -> bool:
        key = check_key(key)
        with self._errors("check", key):
            try:
                self.client.head_object(Bucket=self.bucket, Key=self._key(key))
                return True
            except ClientError as exc:
                if _code(exc) in _NOT_FOUND:
                    return False
                raise

    def list_keys(self, prefix: str) -> list[str]:
        full = self._key(check_key(prefix)) if prefix else (f"{self.prefix}/" if self.prefix else "")
        strip = len(self.prefix) + 1 if self.prefix else 0
        with self._errors("list", prefix or None):
            return [key[strip:] for key in list_keys(self.client, self.bucket, full)]

    def delete_prefix(self, prefix: str) -> int:
        if not prefix.endswith("/"):
            raise StorageError(f"delete_prefix needs a folder ending in '/', got {prefix!r}")
        full = self._key(check_key(prefix))
        removed = 0
        with self._errors("delete", prefix):
            keys = [obj["Key"] for obj in iter_objects(self.client, self.bucket, full)]
            for start in range(0, len(keys), DELETE_BATCH):
                batch = [{"Key": k} for k in keys[start:start + DELETE_BATCH]]
                response = self.client.delete_objects(Bucket=self.bucket,
                                                      Delete={"Objects": batch, "Quiet": True})
                if response.get("Errors"):
                    first = response["Errors"][0]
                    raise StorageError(f"delete of s3://{self.bucket}/{first.get('Key')} failed: "
                                       f"{first.get('Code')}: {first.get('Message')}")
                removed += len(batch)
        return removed

    def delete(self, key: str) -> None:
        with self._errors("delete", key):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(check_key(key)))

    def append_text(self, key: str, text: str) -> None:
        """Read, append, write back: S3 has no append, and progress.jsonl stays small.

        Not safe against two writers appending at the same moment; `ProgressStore` serialises its
        writers within a process, and a run's steps write one after another.
        """
        try:
            current = self.get_bytes(key)
        except FileNotFoundError:
            current = b""
        self.put_bytes(key, current + text.encode("utf-8"), content_type_for(key))

    def check_writable(self) -> None:
        """Write and delete a probe object: proves the endpoint, credentials and bucket up front."""
        probe = self._key(f".write-check-{uuid.uuid4().hex}")
        with self._errors("write check", None):
            self.client.put_object(Bucket=self.bucket, Key=probe, Body=b"")
            self.client.delete_object(Bucket=self.bucket, Key=probe)

    # -- errors ------------------------------------------------------------------------------

    def _errors(self, action: str, key: str | None) -> "_Translate":
        return _Translate(self, action, key)

    def _check_reachable(self) -> None:
        with self._down_lock:
            left = self._down_until - time.monotonic()
        if left > 0:
            raise StorageError(f"S3 endpoint {self.endpoint} was unreachable after {MAX_ATTEMPTS} attempts "
                               f"moments ago; failing fast for another {left:.0f} s")

    def _mark_unreachable(self) -> None:
        with self._down_lock:
            self._down_until = time.monotonic() + UNREACHABLE_COOLDOWN_S


class _Translate:
    """Turns boto errors into one clear StorageError line; trips the unreachable latch."""

    def __init__(self, storage: S3Storage, action: str, key: str | None):
        self.storage, self.action, self.key = storage, action, key

    def __enter__(self) -> None:
        self.storage._check_reachable()

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None or not isinstance(exc, BotoCoreError | ClientError):
            return False
        s = self.storage
        where = f"{self.action} of {s.uri(self.key) if self.key else s.root_uri}"
        if isinstance(exc, NoCredentialsError):
            raise StorageError(f"{where} failed: no AWS credentials found (set AWS_ACCESS_KEY_ID and "
                               "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)") from exc
        if isinstance(exc, BotoConnectionError | HTTPClientError):
            s._mark_unreachable()
            raise StorageError(f"{where} failed: cannot reach S3 endpoint {s.endpoint} after "
                               f"{MAX_ATTEMPTS} attempts ({exc})") from exc
        if isinstance(exc, ClientError):
            code = _code(exc)
            if code in _CREDENTIAL_ERRORS:
                raise StorageError(f"{where} failed: S3 refused the credentials or access to bucket "
                                   f"{s.bucket!r} ({_describe(exc)}); check AWS_ACCESS_KEY_ID / "
                                   "AWS_SECRET_ACCESS_KEY and the bucket policy") from exc
            if code == "NoSuchBucket":
                raise StorageError(f"{where} failed: bucket {s.bucket!r} does not exist at "
                                   f"{s.endpoint} (S3_BUCKET)") from exc
            attempts = exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) + 1
            raise StorageError(f"{where} failed after {attempts} attempt(s): {_describe(exc)}") from exc
        raise StorageError(f"{where} failed: {type(exc).__name__}: {exc}") from exc
