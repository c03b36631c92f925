"""The progress sidecar on "another machine": a `screentime api` process that knows only the bucket
(no shared data folder) serves an S3 run's progress, polling and SSE, from SeaweedFS."""

import os

import httpx

from screentime.pipelines.definitions import build_defs
from screentime.resources import StorageResource
from tests.dagster_helpers import run_episode_job
from tests.live_servers import free_port, read_events, start_api

EP = "carphone-s01e01"


def test_sidecar_serves_progress_and_events_from_the_bucket(s3_env, instance, carphone, tmp_path):
    result = run_episode_job(build_defs(StorageResource(**s3_env.model_dump())), instance, EP, carphone, fps=10)
    assert result.success

    env = {**os.environ, "SCREENTIME_DATA_DIR": str(tmp_path / "nothing-here"),
           "SCREENTIME_DAGSTER_URL": f"http://127.0.0.1:{free_port()}"}  # the S3 settings come from s3_env
    api = start_api(env, tmp_path / "api.log")
    try:
        latest = httpx.get(f"{api.url}/episodes/{EP}/progress", timeout=30).json()
        assert latest["run_id"] == result.run_id and latest["phase"] == "done" and latest["ratio"] == 1.0
        assert latest["counts"]["frames_analyzed"] == 40
        with httpx.stream("GET", f"{api.url}/episodes/{EP}/events", timeout=30) as response:
            events, _ = read_events(response)
        assert events[-1].event == "done" and events[-1].data["run_id"] == result.run_id
        assert [e.data["ratio"] for e in events] == sorted(e.data["ratio"] for e in events)
        listed = httpx.get(f"{api.url}/episodes", timeout=30).json()["episodes"]
        assert [e["ep_id"] for e in listed] == [EP]
    finally:
        api.stop()
    assert not (tmp_path / "nothing-here").exists()
