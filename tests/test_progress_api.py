"""The progress API as users meet it: `screentime api` (uvicorn) on a loopback port, read while a
real materialisation writes progress (the job runs in-process here; launching through the Dagster
webserver is in test_progress_launch.py)."""

import json
import os
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from screentime.contracts.episode import parse_episode_id
from screentime.progress.store import ProgressStore
from screentime.progress_api import create_app
from screentime.progress_api.settings import ApiSettings
from screentime.storage import LocalStorage
from screentime.storage.settings import StorageSettings
from tests.dagster_helpers import local_defs, run_episode_job
from tests.live_servers import free_port, read_events, start_api, wait_for


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """`screentime api` on a free port over a fresh data dir; Dagster is not running for it."""
    root = tmp_path_factory.mktemp("api")
    env = {**os.environ, "SCREENTIME_DATA_DIR": str(root / "data"), "STORAGE_BACKEND": "local",
           "SCREENTIME_DAGSTER_URL": f"http://127.0.0.1:{free_port()}",
           "SCREENTIME_API_POLL_S": "0.1", "SCREENTIME_API_HEARTBEAT_S": "0.5"}
    server = start_api(env, root / "api.log")
    server.data_dir = root / "data"
    yield server
    server.stop()


def manifest(data_dir, ep_id: str) -> dict:
    ep = parse_episode_id(ep_id)
    return json.loads((data_dir / f"artifacts/manifests/{ep.relative_dir}/manifest.json").read_text())


def in_thread(target) -> tuple[threading.Thread, dict]:
    box: dict = {}

    def run():
        try:
            box["value"] = target()
        except BaseException as exc:  # surfaced by the test after join
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def joined(thread: threading.Thread, box: dict, timeout_s: float = 120):
    thread.join(timeout_s)
    assert not thread.is_alive(), "the client thread did not finish"
    if "error" in box:
        raise box["error"]
    return box["value"]


def test_routes_reject_invalid_ids_and_unknown_episodes(api):
    assert httpx.get(f"{api.url}/episodes/The-Office/progress").status_code == 422
    assert "expected <show>-s<SS>e<EE>" in httpx.get(f"{api.url}/episodes/x/events").json()["detail"]
    unknown = httpx.get(f"{api.url}/episodes/nobody-s01e01/progress")
    assert unknown.status_code == 404 and "no progress" in unknown.json()["detail"]
    assert httpx.get(f"{api.url}/episodes/nobody-s01e01/events").status_code == 404
    assert httpx.get(f"{api.url}/episodes/nobody-s01e01/events", params={"run_id": "../x"}).status_code == 422


def test_docs_describe_every_route_with_its_models(api):
    spec = httpx.get(f"{api.url}/openapi.json").json()
    assert set(spec["paths"]) == {"/", "/episodes", "/episodes/{ep_id}/progress", "/episodes/{ep_id}/events",
                                  "/jobs/detect_track", "/healthz", "/review", "/screentime",
                                  "/shows/{show}/people", "/shows/{show}/people/edits", "/shows/{show}/people/undo",
                                  "/shows/{show}/screentime", "/shows/{show}/screentime.csv",
                                  "/shows/{show}/screentime.parquet",
                                  "/crops/{ep_id}/{run_id}/{track_id}/{frame_index}.jpg",
                                  # the review flow (docs/people.md): tracks and crops in pages, the
                                  # larger view's frame and video, live versions, suggestions
                                  "/shows/{show}/people/{identity}/tracks",
                                  "/shows/{show}/episodes/{ep_id}/tracks/{track}/crops",
                                  "/frames/{ep_id}/{run_id}/{frame_index}.jpg", "/episodes/{ep_id}/video",
                                  "/shows/{show}/events", "/shows/{show}/suggestions", "/shows/{show}/matches",
                                  "/shows/{show}/suggestions/not-same", "/suggestions"}
    assert {"ProgressRecord", "EpisodeList", "LaunchRequest", "LaunchResponse", "PeopleView", "EditRequest",
            "EditResponse", "ScreentimeView"} <= set(spec["components"]["schemas"])
    edit = spec["components"]["schemas"]["EditRequest"]["properties"]["edit"]
    assert set(edit["discriminator"]["mapping"]) == {"rename", "merge", "move", "exclude_track", "hide", "reviewed",
                                                     "split_track"}
    launch = spec["components"]["schemas"]["LaunchRequest"]["properties"]
    assert {"ep_id", "video", "fps", "save_frames", "save_crops", "jpeg_quality", "device"} <= set(launch)
    assert "text/event-stream" in spec["paths"]["/episodes/{ep_id}/events"]["get"]["responses"]["200"]["content"]
    assert httpx.get(f"{api.url}/docs").status_code == 200


def test_polling_sees_ratio_rise_to_one_then_done_with_the_manifest_counts(api, instance, cap13):
    ep_id = "cap-s01e01"

    def poll() -> list[dict]:
        seen = []
        while not (seen and seen[-1]["phase"] in ("done", "error")):
            response = httpx.get(f"{api.url}/episodes/{ep_id}/progress")
            if response.status_code == 200 and (not seen or response.json() != seen[-1]):
                seen.append(response.json())
            time.sleep(0.05)
        return seen

    thread, box = in_thread(poll)
    result = run_episode_job(local_defs(api.data_dir), instance, ep_id, cap13, fps=10)
    seen = joined(thread, box)
    assert result.success and {r["run_id"] for r in seen} == {result.run_id}
    ratios = [r["ratio"] for r in seen]
    assert ratios == sorted(ratios) and ratios[-1] == 1.0
    assert len({r for r in ratios if 0 < r < 1}) >= 3  # it was seen moving, not only at the ends
    assert seen[-1]["phase"] == "done" and seen[-1]["eta_seconds"] == 0
    assert seen[-1]["counts"] == manifest(api.data_dir, ep_id)["counts"]


def test_sse_client_sees_rising_ratios_and_resumes_exactly_after_last_event_id(api, instance, cap13):
    ep_id = "cap-s01e02"
    url = f"{api.url}/episodes/{ep_id}/events"

    def follow() -> tuple[list, list]:
        wait_for(lambda: httpx.get(f"{api.url}/episodes/{ep_id}/progress").status_code == 200, 120,
                 0.05, "the run's first record")
        with httpx.stream("GET", url, timeout=60) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            first, _ = read_events(response, stop_after=3)
        with httpx.stream("GET", url, headers={"Last-Event-ID": first[-1].id}, timeout=60) as response:
            rest, _ = read_events(response)
        return first, rest

    thread, box = in_thread(follow)
    result = run_episode_job(local_defs(api.data_dir), instance, ep_id, cap13, fps=10)
    first, rest = joined(thread, box)
    events = first + rest
    ids = [int(e.id) for e in events]
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # no gap and no repeat across the reconnect
    assert int(rest[0].id) == int(first[-1].id) + 1
    assert [e.event for e in events[:-1]] == ["progress"] * (len(events) - 1) and events[-1].event == "done"
    ratios = [e.data["ratio"] for e in events]
    assert ratios == sorted(ratios) and ratios[-1] == 1.0 and len(set(ratios)) >= 4
    assert all(e.data["run_id"] == result.run_id for e in events)
    assert events[-1].data["counts"] == manifest(api.data_dir, ep_id)["counts"]
    history = ProgressStore(LocalStorage(api.data_dir)).history(parse_episode_id(ep_id))
    assert [r.seq for r in history if r.seq >= ids[0]] == ids


def test_finished_run_replays_then_closes_and_last_event_id_at_the_end_gets_204(api, instance, carphone):
    ep_id = "carphone-s01e01"
    result = run_episode_job(local_defs(api.data_dir), instance, ep_id, carphone)
    url = f"{api.url}/episodes/{ep_id}/events"
    with httpx.stream("GET", url, timeout=30) as response:
        events, _ = read_events(response)
    assert events[0].id == "1" and events[-1].event == "done"
    assert response.headers["x-screentime-run-id"] == result.run_id
    with httpx.stream("GET", url, headers={"Last-Event-ID": "2"}, timeout=30) as response:
        assert [e.id for e in read_events(response)[0]] == [e.id for e in events[2:]]
    assert httpx.get(url, headers={"Last-Event-ID": events[-1].id}).status_code == 204
    assert httpx.get(url, headers={"Last-Event-ID": "abc"}).status_code == 422

    listed = {e["ep_id"]: e for e in httpx.get(f"{api.url}/episodes").json()["episodes"]}
    assert listed[ep_id]["phase"] == "done" and listed[ep_id]["complete"] is True
    assert listed[ep_id]["run_id"] == result.run_id and listed[ep_id]["ratio"] == 1.0


def test_failing_run_ends_with_an_error_event(api, instance, truncated_video):
    ep_id = "broken-s01e01"
    result = run_episode_job(local_defs(api.data_dir), instance, ep_id, truncated_video)
    assert not result.success
    with httpx.stream("GET", f"{api.url}/episodes/{ep_id}/events", timeout=30) as response:
        events, _ = read_events(response)
    assert events[-1].event == "error" and events[-1].data["error_type"] == "VideoError"
    assert "not a readable video" in events[-1].data["error"]
    assert httpx.get(f"{api.url}/episodes/{ep_id}/progress").json()["phase"] == "error"


def test_a_run_not_started_yet_is_waited_for_with_heartbeats(api):
    url = f"{api.url}/episodes/later-s01e01/events"
    with httpx.stream("GET", url, params={"run_id": "not-started-yet"}, timeout=10) as response:
        assert response.status_code == 200
        comments = 0
        for line in response.iter_lines():
            comments += line.startswith(":")
            if comments >= 2:
                break
    assert comments == 2  # ": ping" every 0.5 s here (15 s by default) keeps proxies from closing it


def test_launch_route_validates_checks_the_token_and_reports_dagster_down(api, tmp_path, carphone):
    bad = httpx.post(f"{api.url}/jobs/detect_track", json={"ep_id": "Bad Id", "fps": -1})
    assert bad.status_code == 422 and {e["loc"][-1] for e in bad.json()["errors"]} == {"ep_id", "fps"}
    down = httpx.post(f"{api.url}/jobs/detect_track", json={"ep_id": "carphone-s01e01", "video": str(carphone)})
    assert down.status_code == 502 and "cannot reach the Dagster webserver" in down.json()["detail"]

    settings = ApiSettings(storage=StorageSettings(data_dir=str(tmp_path)), api_token="s3cret",
                           dagster_url=f"http://127.0.0.1:{free_port()}")
    with TestClient(create_app(settings)) as client:
        body = {"ep_id": "carphone-s01e01", "video": str(carphone)}
        assert client.post("/jobs/detect_track", json=body).status_code == 401
        wrong = client.post("/jobs/detect_track", json=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        right = client.post("/jobs/detect_track", json=body, headers={"Authorization": "Bearer s3cret"})
        assert right.status_code == 502  # past the token check, on to Dagster (not running here)
        assert client.get("/episodes").status_code == 200  # reading stays open


def test_settings_reject_a_bad_dagster_url():
    with pytest.raises(ValueError, match="not an http"):
        ApiSettings(dagster_url="localhost:3000")
