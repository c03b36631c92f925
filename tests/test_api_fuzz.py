"""The progress API fuzzed from its own OpenAPI document with schemathesis: valid and invalid
paths, queries, headers and bodies for every route; no response is a server error, and every
response matches what the document promises (status, content type, body schema).

The app runs in-process (ASGI, lifespan included) over storage holding one finished run, so the
document's example id replays real events. Event streams that wait for a run are cut after
STREAM_S by schemathesis and checked on what they sent. Dagster is a closed port: a launch that
passed every check would answer 502, but none can, as no fuzzed video exists.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from screentime.contracts.progress import ProgressRecord, utc_now
from screentime.progress.store import ProgressStore
from screentime.progress_api import create_app
from screentime.progress_api.models import EPISODE_ID_EXAMPLE
from screentime.progress_api.settings import ApiSettings
from screentime.storage import StorageSettings, open_storage
from tests.live_servers import free_port

STREAM_S = 0.5  # how long a fuzzed request may take; event streams are cut there
TOKEN = "fuzz-token"  # set, so the fuzzer also sees launches without it refused (401)
SETTINGS = dict(deadline=None, database=None, suppress_health_check=list(HealthCheck))


def seed_finished_run(data_dir) -> None:
    store = ProgressStore(open_storage(StorageSettings(data_dir=str(data_dir))))
    for seq, phase, ratio in ((1, "starting", 0.0), (2, "detecting", 0.5), (3, "done", 1.0)):
        store.write(ProgressRecord(ep_id=EPISODE_ID_EXAMPLE, run_id="seeded-run", phase=phase, ratio=ratio, seq=seq,
                                   frames_done=int(120 * ratio), frames_total=120, device="cpu",
                                   updated_at=utc_now(), counts={"detections": 1} if phase == "done" else None))


# Built at import: schemathesis reads the document when the tests are collected. (Its lazy
# `from_fixture` loader does not run under pytest 9.) Nothing is created on disk until `fuzz_env`.
ROOT = Path(tempfile.gettempdir()) / f"screentime-fuzz-{os.getpid()}-{uuid.uuid4().hex[:8]}"
APP = create_app(ApiSettings(storage=StorageSettings(data_dir=str(ROOT / "data")), poll_s=0.05,
                             heartbeat_s=0.2, dagster_url=f"http://127.0.0.1:{free_port()}", api_token=TOKEN))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def fuzz_env():
    (ROOT / "videos").mkdir(parents=True)
    seed_finished_run(ROOT / "data")
    mp = pytest.MonkeyPatch()
    mp.setenv("SCREENTIME_VIDEOS_DIR", str(ROOT / "videos"))  # empty: `video: ""` finds nothing
    # An s3:// video would be looked up here: a closed loopback port, never the internet.
    mp.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")
    mp.setenv("AWS_ACCESS_KEY_ID", "fuzz")
    mp.setenv("AWS_SECRET_ACCESS_KEY", "fuzz")
    mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
    try:
        yield
    finally:
        mp.undo()
        shutil.rmtree(ROOT, ignore_errors=True)


def call_and_validate(case) -> None:
    # A schema-valid launch is still refused (422) when its video is not a readable file, on
    # purpose: nothing is launched for a bad input, and the document cannot say which files exist.
    launch = case.method == "POST" and case.path == "/jobs/detect_track"
    case.call_and_validate(timeout=STREAM_S if case.path.endswith("/events") else 30,
                           headers={"Authorization": f"Bearer {TOKEN}"} if launch else None,
                           excluded_checks=[positive_data_acceptance] if launch else None)


@schema.parametrize()
@settings(max_examples=25, derandomize=True, **SETTINGS)
def test_fuzzed_requests_get_no_server_error_and_match_the_document(case):
    call_and_validate(case)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=400, **SETTINGS)
def test_fuzzed_requests_long_run(case):
    call_and_validate(case)
