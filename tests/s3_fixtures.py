"""A real S3 server for the tests: one SeaweedFS `weed mini` per session, a fresh prefix per test.

Loaded by tests/conftest.py. Every test that uses `s3_env` gets the environment a user sets for
STORAGE_BACKEND=s3 (endpoint, bucket, its own S3_PREFIX, access keys) and nothing else of AWS: no
config files, no profile, no instance metadata lookups (no traffic leaves 127.0.0.1).
"""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path

import pytest

from screentime.dev.seaweed import SeaweedServer
from screentime.storage.settings import StorageSettings

TEST_BUCKET = "screentime-test"
ACCESS_KEY = "screentime-test"
REGION = "us-east-1"


def isolate_aws(monkeypatch, tmp_path: Path) -> None:
    """Only the environment decides the credentials: no ~/.aws files, profiles or metadata service."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
                 "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def start_server(data_dir: Path, **kwargs) -> SeaweedServer:
    return SeaweedServer(data_dir, ACCESS_KEY, secrets.token_hex(16), bucket=TEST_BUCKET, **kwargs).start()


def use_server(monkeypatch, tmp_path: Path, server: SeaweedServer, prefix: str = "") -> StorageSettings:
    isolate_aws(monkeypatch, tmp_path)
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("STORAGE_BACKEND", "s3")
    monkeypatch.setenv("S3_BUCKET", TEST_BUCKET)
    monkeypatch.setenv("S3_PREFIX", prefix or f"t-{uuid.uuid4().hex[:10]}")
    monkeypatch.setenv("AWS_REGION", REGION)
    return StorageSettings.from_env()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """SeaweedFS on free loopback ports with access keys on; stopped by PID at the end."""
    server = start_server(tmp_path_factory.mktemp("seaweed"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_server, monkeypatch, tmp_path) -> StorageSettings:
    """STORAGE_BACKEND=s3 against the session's server, under a prefix of this test's own."""
    return use_server(monkeypatch, tmp_path, s3_server)


@pytest.fixture
def s3_client(s3_server):
    """An admin client for inspecting the bucket behind the code's back."""
    return s3_server.client()
