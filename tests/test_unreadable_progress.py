"""An episode whose progress.json cannot be read (bytes written over it, a folder in its place),
against the real progress store, a real `screentime run` and a real `screentime api` on loopback:
a run replaces a bad file atomically, a folder is left alone and fails only its episode, and the
API answers 503 with one line for that episode (never 500) while listing the others."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from screentime.contracts.episode import parse_episode_id
from screentime.contracts.progress import ProgressRecord, utc_now
from screentime.progress.store import ProgressStore, UnreadableProgress
from screentime.storage import LocalStorage
from tests.live_servers import free_port, read_events, start_api


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    root = tmp_path_factory.mktemp("unreadable")
    env = {**os.environ, "SCREENTIME_DATA_DIR": str(root / "data"), "STORAGE_BACKEND": "local",
           "SCREENTIME_DAGSTER_URL": f"http://127.0.0.1:{free_port()}",
           "SCREENTIME_API_POLL_S": "0.1", "SCREENTIME_API_HEARTBEAT_S": "0.5"}
    env.pop("SCREENTIME_API_TOKEN", None)
    server = start_api(env, root / "api.log")
    server.root, server.data_dir = root, root / "data"
    yield server
    server.stop()


def episode_dir(api, ep_id: str) -> Path:
    return api.data_dir / "artifacts/manifests" / parse_episode_id(ep_id).relative_dir


def seed_finished_episode(api, ep_id: str = "fine-s01e01") -> None:
    ProgressStore(LocalStorage(api.data_dir)).write(ProgressRecord(
        ep_id=ep_id, run_id="fine-run", phase="done", seq=1, frames_done=10, frames_total=10, ratio=1.0,
        updated_at=utc_now()))


def screentime_run(api, tmp_path: Path, video: Path, ep_id: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster_home"), "SCREENTIME_DATA_DIR": str(api.data_dir),
           "STORAGE_BACKEND": "local"}
    exe = os.path.join(os.path.dirname(sys.executable), "screentime")
    return subprocess.run([exe, "run", str(video), "--ep-id", ep_id, "--fps", "10"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def assert_unreadable_answers(api, ep_id: str, says: str) -> None:
    """/progress and /events: 503 with one line (no traceback); GET /episodes: the others listed."""
    for route in ("progress", "events"):
        answer = httpx.get(f"{api.url}/episodes/{ep_id}/{route}", timeout=10)
        assert answer.status_code == 503, (route, answer.status_code, answer.text[:300])
        detail = answer.json()["detail"]
        assert "cannot be read" in detail and says in detail and "\n" not in detail, detail
    listed = httpx.get(f"{api.url}/episodes", timeout=10)
    assert listed.status_code == 200, listed.text[:300]
    names = {e["ep_id"] for e in listed.json()["episodes"]}
    assert "fine-s01e01" in names and ep_id not in names


def test_a_run_replaces_a_corrupt_progress_record_atomically_and_the_api_serves_it(api, tmp_path, carphone):
    ep_id = "corrupt-s01e01"
    seed_finished_episode(api)
    target = episode_dir(api, ep_id) / "progress.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    garbage = random.Random(300).randbytes(300)
    target.write_bytes(garbage)
    assert_unreadable_answers(api, ep_id, "is not a progress record")

    seen = {"garbage": 0, "records": 0, "torn": []}
    stop = threading.Event()

    def watch():  # every read during the run: the old bytes or a whole record, never a mix
        while not stop.is_set():
            data = target.read_bytes()
            if data == garbage:
                seen["garbage"] += 1
                continue
            try:
                ProgressRecord.model_validate_json(data)
                seen["records"] += 1
            except ValueError:
                seen["torn"].append(data[:80])

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        done = screentime_run(api, tmp_path, carphone, ep_id)
    finally:
        stop.set()
        watcher.join(10)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "progress not written" not in done.stderr, done.stderr[-2000:]
    printed = [json.loads(line) for line in done.stdout.splitlines()]
    assert printed and printed[0]["seq"] == 1 and printed[-1]["phase"] == "done"
    assert seen["torn"] == [] and seen["garbage"] > 0 and seen["records"] > 0, seen

    latest = ProgressRecord.model_validate_json(target.read_bytes())
    assert latest.phase == "done" and latest.seq == printed[-1]["seq"]
    assert not [p.name for p in target.parent.iterdir() if p.name.endswith(".tmp")]  # written by temp + rename
    polled = httpx.get(f"{api.url}/episodes/{ep_id}/progress", timeout=10)
    assert polled.status_code == 200 and polled.json()["phase"] == "done"
    with httpx.stream("GET", f"{api.url}/episodes/{ep_id}/events", timeout=30) as response:
        assert response.status_code == 200
        events, _ = read_events(response)
    assert [e.id for e in events] == [str(n) for n in range(1, len(events) + 1)] and events[-1].event == "done"
    listed = {e["ep_id"]: e for e in httpx.get(f"{api.url}/episodes", timeout=10).json()["episodes"]}
    assert listed[ep_id]["phase"] == "done" and listed[ep_id]["complete"] is True and "fine-s01e01" in listed


def test_a_folder_in_place_of_progress_json_is_left_alone_and_said_once_by_its_runs(api, tmp_path, carphone):
    ep_id = "folder-s01e01"
    seed_finished_episode(api)
    folder = episode_dir(api, ep_id) / "progress.json"
    folder.mkdir(parents=True)
    (folder / "keep.txt").write_text("someone's file")
    (folder.parent / "manifest.json").write_text("{}")  # listed by its manifest, as a finished episode is
    assert_unreadable_answers(api, ep_id, "is a folder")

    # The store refuses with one line naming it, and still keeps the run's history, which a
    # client following the run by its id is served from.
    store = ProgressStore(LocalStorage(api.data_dir))
    for seq, phase in ((1, "detecting"), (2, "done")):
        with pytest.raises(UnreadableProgress, match="progress.json is a folder, not a progress record: move it away"):
            store.write(ProgressRecord(ep_id=ep_id, run_id="history-only", phase=phase, seq=seq, ratio=seq / 2,
                                       updated_at=utc_now()))
    with httpx.stream("GET", f"{api.url}/episodes/{ep_id}/events", params={"run_id": "history-only"},
                      timeout=30) as response:
        assert response.status_code == 200
        events, _ = read_events(response)
    assert [(e.id, e.event) for e in events] == [("1", "progress"), ("2", "done")]

    # A real run of the episode analyses it, says once that its progress could not be published
    # because of the folder, and leaves the folder as it was (the next run's clean-up takes only
    # folders named like runs).
    done = screentime_run(api, tmp_path, carphone, ep_id)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert done.stderr.count("progress.json is a folder, not a progress record: move it away") == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert folder.is_dir() and (folder / "keep.txt").read_text() == "someone's file"
    assert_unreadable_answers(api, ep_id, "is a folder")
