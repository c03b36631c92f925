"""S3Storage against a real SeaweedFS server: keys, content types, pagination, errors, the binary."""

import json
import time

import pytest

from screentime.contracts.episode import parse_episode_id
from screentime.contracts.errors import InvalidOption, StorageError
from screentime.contracts.progress import ProgressRecord
from screentime.dev.seaweed import WEED_SHA256, SeaweedError, find_weed
from screentime.progress.store import ProgressStore
from screentime.storage import open_storage
from screentime.storage.s3 import S3Storage, parse_s3_uri
from screentime.storage.settings import StorageSettings
from screentime.storage.sync import sync_tree
from tests.s3_fixtures import TEST_BUCKET, isolate_aws


def head(client, settings, key):
    return client.head_object(Bucket=TEST_BUCKET, Key=f"{settings.s3_prefix}/{key}")


def test_objects_round_trip_under_the_prefix_with_content_types(s3_env, s3_client):
    store = open_storage(s3_env)
    assert isinstance(store, S3Storage) and store.root_uri == f"s3://{TEST_BUCKET}/{s3_env.s3_prefix}"
    store.check_writable()
    store.put_bytes("artifacts/frames/x/s01/e01/r1/frame_000001.jpg", b"\xff\xd8jpeg")
    store.put_text("artifacts/manifests/x/s01/e01/manifest.json", "{}")
    store.put_bytes("artifacts/manifests/x/s01/e01/r1/detections.parquet", b"PAR1")
    store.append_text("artifacts/manifests/x/s01/e01/progress.jsonl", "one\n")
    store.append_text("artifacts/manifests/x/s01/e01/progress.jsonl", "two\n")

    assert store.list_keys("") == [
        "artifacts/frames/x/s01/e01/r1/frame_000001.jpg",
        "artifacts/manifests/x/s01/e01/manifest.json",
        "artifacts/manifests/x/s01/e01/progress.jsonl",
        "artifacts/manifests/x/s01/e01/r1/detections.parquet",
    ]  # the write check's probe object is gone
    assert store.list_keys("artifacts/frames/") == ["artifacts/frames/x/s01/e01/r1/frame_000001.jpg"]
    assert store.get_text("artifacts/manifests/x/s01/e01/progress.jsonl") == "one\ntwo\n"
    assert store.exists("artifacts/manifests/x/s01/e01/manifest.json")
    assert not store.exists("artifacts/manifests/x/s01/e01/nothing.json")
    with pytest.raises(FileNotFoundError):
        store.get_bytes("artifacts/manifests/x/s01/e01/nothing.json")
    types = {key: head(s3_client, s3_env, key)["ContentType"] for key in store.list_keys("")}
    assert sorted(types.values()) == ["application/json", "application/vnd.apache.parquet",
                                      "application/x-ndjson", "image/jpeg"]
    assert store.uri("artifacts/a.json") == f"s3://{TEST_BUCKET}/{s3_env.s3_prefix}/artifacts/a.json"
    with pytest.raises(StorageError):
        store.put_bytes("../escape.json", b"{}")


def test_listing_and_deleting_page_past_1000_keys(s3_env):
    from concurrent.futures import ThreadPoolExecutor

    store = open_storage(s3_env)
    keys = [f"artifacts/crops/x/s01/e01/r1/track_0001/frame_{i:06d}.jpg" for i in range(1005)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: store.put_bytes(k, b"x"), keys))
    store.put_text("artifacts/crops/x/s01/e01/r10/keep.json", "{}")  # 'r1' must not match 'r10'
    assert store.list_keys("artifacts/crops/x/s01/e01/r1/") == keys
    assert store.delete_prefix("artifacts/crops/x/s01/e01/r1/") == 1005
    assert store.list_keys("") == ["artifacts/crops/x/s01/e01/r10/keep.json"]
    with pytest.raises(StorageError, match="ending in '/'"):
        store.delete_prefix("artifacts/crops/x/s01/e01/r10")


def test_progress_store_reads_and_writes_through_the_bucket(s3_env):
    store = ProgressStore(open_storage(s3_env))
    ep = parse_episode_id("show-s01e02")
    for seq, done in enumerate((0, 25, 50)):
        store.write(ProgressRecord(ep_id=str(ep), run_id="run1", phase="detecting", frames_done=done,
                                   frames_total=50, ratio=done / 50, seconds=1.0, fps=25.0, eta_seconds=1.0,
                                   device="cpu", updated_at="2026-01-01T00:00:00+00:00", seq=seq))
    assert store.latest(ep).frames_done == 50
    assert [r.frames_done for r in store.history(ep)] == [0, 25, 50]


@pytest.mark.parametrize("key_id, secret, expected", [
    ("screentime-test", "wrong-secret", "SignatureDoesNotMatch"),
    ("nobody", "wrong-secret", "InvalidAccessKeyId"),
    (None, None, "no AWS credentials found"),
])
def test_bad_credentials_fail_the_write_check_at_once(s3_env, s3_client, monkeypatch, key_id, secret, expected):
    for name, value in (("AWS_ACCESS_KEY_ID", key_id), ("AWS_SECRET_ACCESS_KEY", secret)):
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, value)
    store = open_storage(StorageSettings.from_env())
    started = time.monotonic()
    with pytest.raises(StorageError, match=expected) as error:
        store.check_writable()
    assert time.monotonic() - started < 5  # refused, not retried
    assert f"s3://{TEST_BUCKET}/{s3_env.s3_prefix}" in str(error.value)
    listing = s3_client.list_objects_v2(Bucket=TEST_BUCKET, Prefix=s3_env.s3_prefix)
    assert listing.get("KeyCount", 0) == 0


def test_a_missing_bucket_is_named(s3_env, monkeypatch):
    monkeypatch.setenv("S3_BUCKET", "no-such-bucket")
    store = open_storage(StorageSettings.from_env())
    with pytest.raises(StorageError, match="no-such-bucket"):
        store.get_bytes("artifacts/manifests/x/s01/e01/manifest.json")


def test_an_unreachable_endpoint_fails_after_bounded_retries_then_fast(monkeypatch, tmp_path):
    import socket

    isolate_aws(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}"
    store = open_storage(StorageSettings(backend="s3", s3_bucket="bucket", endpoint_url=endpoint))
    started = time.monotonic()
    with pytest.raises(StorageError, match=f"cannot reach S3 endpoint {endpoint} after 4 attempts"):
        store.put_text("artifacts/a.json", "{}")
    assert time.monotonic() - started < 15
    started = time.monotonic()
    with pytest.raises(StorageError, match="unreachable"):
        store.put_text("artifacts/b.json", "{}")
    assert time.monotonic() - started < 0.1


@pytest.mark.parametrize("settings, message", [
    ({"s3_bucket": ""}, "needs S3_BUCKET"),
    ({"s3_bucket": "Bad_Bucket"}, "invalid S3 bucket name"),
    ({"s3_bucket": "ok-bucket", "s3_prefix": "a/../b"}, "invalid S3 prefix"),
    ({"s3_bucket": "ok-bucket", "endpoint_url": "127.0.0.1:8333"}, "invalid S3 endpoint URL"),
])
def test_bad_settings_are_rejected_with_one_clear_message(settings, message):
    with pytest.raises(InvalidOption, match=message):
        open_storage(StorageSettings(backend="s3", **settings))


def test_s3_uris_parse_into_bucket_and_key():
    assert parse_s3_uri("s3://videos-bucket/show/s01e02.mp4") == ("videos-bucket", "show/s01e02.mp4")
    assert parse_s3_uri("s3://videos-bucket") == ("videos-bucket", "")
    with pytest.raises(InvalidOption):
        parse_s3_uri("/local/path.mp4")


def test_sync_tree_uploads_a_local_tree_with_manifests_last(s3_env, s3_client, tmp_path):
    root = tmp_path / "data"
    (root / "artifacts/manifests/x/s01/e01/r1").mkdir(parents=True)
    (root / "artifacts/manifests/x/s01/e01/manifest.json").write_text(json.dumps({"run_id": "r1"}))
    (root / "artifacts/manifests/x/s01/e01/r1/tracks.parquet").write_bytes(b"PAR1")
    (root / "artifacts/manifests/x/s01/e01/r1/.tracks.parquet.x.tmp").write_bytes(b"torn")
    store = open_storage(s3_env)
    uploaded = sync_tree(root, store)
    assert uploaded == ["artifacts/manifests/x/s01/e01/r1/tracks.parquet",
                        "artifacts/manifests/x/s01/e01/manifest.json"]
    assert store.list_keys("") == sorted(uploaded)
    assert head(s3_client, s3_env, uploaded[0])["ContentType"] == "application/vnd.apache.parquet"


def test_weed_binary_is_checked_against_its_pinned_sha256(monkeypatch):
    assert find_weed().name == "weed"
    monkeypatch.setattr("screentime.dev.seaweed.WEED_SHA256", "0" * 64)
    with pytest.raises(SeaweedError, match=WEED_SHA256):
        find_weed()


def test_a_region_that_is_not_a_name_is_one_line_and_the_api_does_not_start(tmp_path):
    import os
    import subprocess
    import sys

    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="AWS_REGION 'us east 1' is not a region name"):
        StorageSettings(aws_region="us east 1")
    exe = os.path.join(os.path.dirname(sys.executable), "screentime")
    env = {**os.environ, "AWS_REGION": "us east 1", "SCREENTIME_DATA_DIR": str(tmp_path)}
    done = subprocess.run([exe, "api", "--port", "1"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "AWS_REGION" in done.stderr, done.stderr


def test_weed_starts_again_on_fresh_ports_when_one_was_taken_meanwhile(tmp_path):
    """A port chosen free can be taken before weed binds it (CI saw weed exit on its master port)."""
    import socket

    from screentime.dev.seaweed import free_ports
    from tests.s3_fixtures import start_server

    ports = free_ports()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ports["master"]))
        squatter.listen()
        with start_server(tmp_path / "weed", ports=dict(ports)) as server:
            assert server.ports["master"] != ports["master"]
            server.client().head_bucket(Bucket=TEST_BUCKET)
