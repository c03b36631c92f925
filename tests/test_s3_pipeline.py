"""The whole episode job with STORAGE_BACKEND=s3 against a real SeaweedFS server."""

import io
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time

import pyarrow.parquet as pq

from screentime.contracts.episode import parse_episode_id
from screentime.dev.seaweed import SeaweedServer
from screentime.pipelines.definitions import build_defs
from screentime.progress.store import ProgressStore
from screentime.resources import StorageResource
from screentime.storage import content_type_for, open_storage
from tests.conftest import artifact_files
from tests.dagster_helpers import local_defs, run_episode_job
from tests.s3_fixtures import ACCESS_KEY, TEST_BUCKET, start_server, use_server
from tests.test_bad_input_dagster import failure_text

EP = "carphone-s01e01"
MANIFEST = "artifacts/manifests/carphone/s01/e01/manifest.json"
LAYOUT = re.compile(  # README "Artifact layout", with <run> for the run id folder
    r"artifacts/frames/carphone/s01/e01/<run>/frame_\d{6}\.jpg"
    r"|artifacts/crops/carphone/s01/e01/<run>/track_\d{4}/frame_\d{6}\.jpg"
    r"|artifacts/manifests/carphone/s01/e01/<run>/(frames|detections|tracks|crops|shots|faces|embeddings|people|screentime)\.parquet"
    r"|artifacts/manifests/carphone/s01/e01/(manifest|progress)\.json"
    r"|artifacts/manifests/carphone/s01/e01/<run>/progress\.jsonl"
)


def s3_defs(settings):
    return build_defs(StorageResource(**settings.model_dump()))


def without_run(keys, run_id):
    return sorted(key.replace(f"/{run_id}/", "/<run>/") for key in keys)


def test_s3_run_lays_out_exactly_what_a_local_run_does(s3_env, s3_client, data_dir, instance, carphone):
    local = run_episode_job(local_defs(data_dir), instance, EP, carphone, save_frames=True, fps=10)
    remote = run_episode_job(s3_defs(s3_env), instance, EP, carphone, save_frames=True, fps=10)
    assert local.success and remote.success

    store = open_storage(s3_env)
    keys = store.list_keys("")
    assert without_run(keys, remote.run_id) == without_run(artifact_files(data_dir), local.run_id)
    assert all(LAYOUT.fullmatch(k) for k in without_run(keys, remote.run_id))
    assert sum("/frame_" in k and k.startswith("artifacts/frames/") for k in keys) == 40
    for key in keys:  # what a browser or a notebook is told about each object
        head = s3_client.head_object(Bucket=TEST_BUCKET, Key=f"{s3_env.s3_prefix}/{key}")
        assert head["ContentType"] == content_type_for(key) != "application/octet-stream"

    manifest = json.loads(store.get_text(MANIFEST))
    root = f"s3://{TEST_BUCKET}/{s3_env.s3_prefix}/"
    assert manifest["run_id"] == remote.run_id
    assert manifest["artifacts"]["crops"] == f"{root}artifacts/crops/carphone/s01/e01/{remote.run_id}/"
    tables = manifest["artifacts"]["manifests"].removeprefix(root)
    detections = pq.read_table(io.BytesIO(store.get_bytes(tables + "detections.parquet")))
    assert detections.num_rows == manifest["counts"]["detections"] == 40
    crops = pq.read_table(io.BytesIO(store.get_bytes(tables + "crops.parquet")))
    assert all(store.exists(path.removeprefix(root)) for path in crops["path"].to_pylist())
    latest = ProgressStore(store).latest(parse_episode_id(EP))
    assert latest.phase == "done" and latest.run_id == remote.run_id
    assert latest.counts.model_dump() == manifest["counts"]
    uploads = s3_client.list_multipart_uploads(Bucket=TEST_BUCKET, Prefix=s3_env.s3_prefix)
    assert not uploads.get("Uploads")  # whole-object puts only


def test_s3_rerun_replaces_the_episode_objects(s3_env, instance, carphone):
    defs = s3_defs(s3_env)
    first = run_episode_job(defs, instance, EP, carphone, save_frames=True, fps=10)
    second = run_episode_job(defs, instance, EP, carphone, save_frames=False, fps=5)
    assert first.success and second.success
    keys = open_storage(s3_env).list_keys("")
    assert not any(first.run_id in k for k in keys)  # its 40 frames, crops and tables: gone
    assert not any(k.startswith("artifacts/frames/") for k in keys)
    assert json.loads(open_storage(s3_env).get_text(MANIFEST))["counts"]["frames_analyzed"] == 20


def test_wrong_credentials_fail_the_run_before_any_work(s3_env, s3_client, monkeypatch, instance, carphone):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    started = time.monotonic()
    result = run_episode_job(s3_defs(s3_env), instance, EP, carphone)
    assert not result.success
    assert "S3 refused the credentials" in failure_text(result)
    assert "SignatureDoesNotMatch" in failure_text(result)
    assert time.monotonic() - started < 30
    assert not result.get_asset_materialization_events()
    listing = s3_client.list_objects_v2(Bucket=TEST_BUCKET, Prefix=s3_env.s3_prefix)
    assert listing.get("KeyCount", 0) == 0


def test_cli_refuses_wrong_credentials_with_one_line_before_starting(s3_env, monkeypatch, tmp_path, carphone):
    env = {**os.environ, "AWS_SECRET_ACCESS_KEY": "not-the-secret", "DAGSTER_HOME": str(tmp_path / "home")}
    exe = os.path.join(os.path.dirname(sys.executable), "screentime")
    done = subprocess.run([exe, "run", str(carphone), "--ep-id", EP], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"error: write check of s3://{TEST_BUCKET}/{s3_env.s3_prefix} failed: "
                                  "S3 refused the credentials")
    assert done.stdout == "" and not (tmp_path / "home").exists()  # no run was started


def test_server_stopped_mid_run_fails_it_cleanly(tmp_path, monkeypatch, instance, carphone):
    """Stop the S3 server while frames are being analysed and exported: the run fails after bounded
    retries with a clear error; after a restart the previous manifest and its outputs are intact."""
    server = start_server(tmp_path / "weed")
    try:
        settings = use_server(monkeypatch, tmp_path, server, prefix="fault")
        good = run_episode_job(s3_defs(settings), instance, EP, carphone, save_frames=True, fps=10)
        assert good.success
        before = {k: open_storage(settings).get_bytes(k) for k in open_storage(settings).list_keys("")
                  if "/progress.json" not in k}

        watcher = server.client(attempts=1)
        outcome = {}
        run = threading.Thread(target=lambda: outcome.update(
            result=run_episode_job(s3_defs(settings), instance, EP, carphone, save_frames=True)))
        run.start()
        while run.is_alive() and not _analysing_another_run(watcher, good.run_id):
            time.sleep(0.02)
        assert run.is_alive(), "the run ended before the server could be stopped"
        stopped_at = time.time()
        server.stop()
        run.join(timeout=300)  # generous: Dagster's own log capture can take a minute to wind down
        assert not run.is_alive()
        result = outcome["result"]
        assert not result.success
        # The analysis still decodes and detects the rest of the clip, but retries add no minutes:
        # the step fails a few seconds after the stop.
        failed_at = max(e.timestamp for e in instance.all_logs(result.run_id)
                        if e.dagster_event is not None and e.dagster_event.is_step_failure)
        assert failed_at - stopped_at < 45
        failure = failure_text(result)
        assert f"cannot reach S3 endpoint {server.endpoint_url} after 4 attempts" in failure \
            or "was unreachable after 4 attempts" in failure
        warnings = [e.user_message for e in instance.all_logs(result.run_id)
                    if e.level == logging.WARNING and "export of" in e.user_message]
        assert warnings, "failed frame exports are reported as warnings"

        server.start()  # same folder, same ports: what did the failure leave?
        store = open_storage(settings)
        for key, data in before.items():
            assert store.get_bytes(key) == data  # the manifest and every output it lists
        assert json.loads(store.get_text(MANIFEST))["run_id"] == good.run_id
        uploads = server.client().list_multipart_uploads(Bucket=TEST_BUCKET)
        assert not uploads.get("Uploads")
    finally:
        server.stop()


def test_refused_jpeg_exports_are_warnings_and_counted_and_the_run_still_succeeds(
        tmp_path, monkeypatch, instance, carphone):
    """An identity that may write the tables, manifest and progress but no frame or crop JPEG."""
    prefix, admin_secret = "deny", "admin-secret"
    identities = {"identities": [
        {"name": "admin", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": admin_secret}],
         "actions": ["Admin", "Read", "Write", "List"]},
        {"name": "tables-only", "credentials": [{"accessKey": "tables-only", "secretKey": "tables-secret"}],
         "actions": [f"Read:{TEST_BUCKET}", f"List:{TEST_BUCKET}", f"Write:{TEST_BUCKET}/{prefix}/.write-check*",
                     f"Write:{TEST_BUCKET}/{prefix}/artifacts/manifests/*"]},
    ]}
    config = tmp_path / "s3.json"
    config.write_text(json.dumps(identities))
    server = SeaweedServer(tmp_path / "weed", ACCESS_KEY, admin_secret, bucket=TEST_BUCKET, s3_config=config)
    with server.start():
        settings = use_server(monkeypatch, tmp_path, server, prefix=prefix)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "tables-only")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "tables-secret")
        result = run_episode_job(s3_defs(settings), instance, EP, carphone, save_frames=True, fps=10)
        assert result.success
        manifest = json.loads(open_storage(settings).get_text(MANIFEST))
        assert manifest["counts"]["export_failures"] == 40 + 4  # every frame and crop JPEG
        assert manifest["counts"]["frames_saved"] == manifest["counts"]["crops_saved"] == 0
        warnings = [e.user_message for e in instance.all_logs(result.run_id) if e.level == logging.WARNING]
        # The first three one by one, then one line for all: not 44 lines saying the same thing.
        assert sum("export of" in w and "AccessDenied" in w for w in warnings) == 3
        assert "further export failures are counted" in next(w for w in warnings if "export of" in w and
                                                             "counted" in w)
        assert sum("44 JPEG exports failed in all" in w for w in warnings) == 1
        keys = server.client().list_objects_v2(Bucket=TEST_BUCKET, Prefix=prefix)["Contents"]
        assert not any("/frames/" in k["Key"] or "/crops/" in k["Key"] for k in keys)


def _analysing_another_run(client, good_run_id: str) -> bool:
    try:
        body = client.get_object(Bucket=TEST_BUCKET, Key="fault/artifacts/manifests/carphone/s01/e01/progress.json")
        record = json.loads(body["Body"].read())
    except Exception:
        return False
    return record["run_id"] != good_run_id and record["frames_done"] >= 25
