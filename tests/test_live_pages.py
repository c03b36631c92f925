"""Live pages with several reviewers: a real `screentime api` serves a show whose episode ran through
the Dagster job; another client edits; the show's event stream and an open Screentime page in
headless Chromium follow the edit and the recount Dagster makes (people_edits sensor, show_people
run), without a reload; a stale edit of other people is rebased over HTTP, one of the same refused."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import httpx
import numpy as np
import pytest
from dagster._core.storage.defs_state.base import set_defs_state_storage

from screentime.contracts.episode import parse_episode_id
from screentime.contracts.layout import EpisodeLayout
from screentime.contracts.names import SHOW_JOB, SHOWS
from screentime.identity.registry import load_registry
from screentime.identity.screen_time import FrameSeconds
from screentime.identity.show_rollup import update_show
from screentime.storage import LocalStorage
from screentime.storage.parquet import table_from_parquet
from tests.browser import Browser, chromium_path
from tests.dagster_helpers import local_defs, run_episode_job
from tests.live_servers import start_api

SHOW, EP = "group", "group-s01e01"


@pytest.fixture(scope="module")
def stack(tmp_path_factory, group_shots):
    """group_shots analysed by the Dagster job, its show linked, the API serving it, and the instance
    the edits' recounts run on."""
    root = tmp_path_factory.mktemp("live")
    data = root / "data"
    with dg.instance_for_test() as instance, set_defs_state_storage(instance.defs_state_storage):
        defs = local_defs(data)
        assert run_episode_job(defs, instance, EP, group_shots, fps=4).success
        instance.add_dynamic_partitions(SHOWS, [SHOW])
        update_show(LocalStorage(data), SHOW)
        env = {**os.environ, "SCREENTIME_DATA_DIR": str(data), "STORAGE_BACKEND": "local"}
        env.pop("SCREENTIME_API_TOKEN", None)
        api = start_api(env, root / "api.log")
        try:
            yield {"url": api.url, "data": data, "defs": defs, "instance": instance, "root": root}
        finally:
            api.stop()


def edit(stack, base_version: int, change: dict, by: str = "bob") -> httpx.Response:
    return httpx.post(f"{stack['url']}/shows/{SHOW}/people/edits", timeout=30,
                      json={"base_version": base_version, "by": by, "edit": change})


def version(stack) -> int:
    return load_registry(LocalStorage(stack["data"]), SHOW).version


def recount(stack) -> int:
    """What Dagster does after an edit: the people_edits sensor's tick, and the run it requests."""
    defs, instance = stack["defs"], stack["instance"]
    context = dg.build_sensor_context(instance=instance, instance_ref=instance.get_ref(), definitions=defs,
                                      resources={"storage": defs.resources["storage"]})
    (request,) = defs.resolve_sensor_def("people_edits").evaluate_tick(context).run_requests
    result = defs.resolve_job_def(SHOW_JOB).execute_in_process(
        instance=instance, partition_key=request.partition_key, tags=request.tags)
    assert result.success
    return int(request.tags["screentime/registry_version"])


def events(response: httpx.Response):
    """The stream's events as dicts, one at a time (heartbeat comments skipped)."""
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line == "":
            if "data" in fields:
                yield fields.get("event"), json.loads(fields["data"])
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


def people_ids(stack) -> list[int]:
    view = httpx.get(f"{stack['url']}/shows/{SHOW}/people", params={"limit": 500}, timeout=30).json()
    return [p["id"] for p in view["people"]]


def test_the_show_stream_says_each_edit_and_each_recount(stack):
    start = version(stack)
    a, b = people_ids(stack)[:2]
    with httpx.stream("GET", f"{stack['url']}/shows/{SHOW}/events", timeout=httpx.Timeout(30)) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        stream = events(response)
        kind, first = next(stream)
        assert kind == "versions" and first["version"] == start and first["numbers_version"] == start
        assert edit(stack, start, {"action": "rename", "identity": a, "name": "Ann"}).status_code == 200
        _, edited = next(stream)  # another client's edit, within a poll
        assert (edited["version"], edited["numbers_version"]) == (start + 1, start)
        assert edited["updated_by"] == "bob" and edited["reason"] == f"renamed person {a} to Ann"
        # A second reviewer whose page still shows `start`: another person is rebased, the same refused.
        rebased = edit(stack, start, {"action": "rename", "identity": b, "name": "Bea"}, by="cy")
        assert rebased.status_code == 200 and rebased.json()["version"] == start + 2
        refused = edit(stack, start, {"action": "rename", "identity": a, "name": "Ada"}, by="cy")
        assert refused.status_code == 409 and f"person {a} changed since" in refused.json()["detail"]
        _, rebased_event = next(stream)
        assert (rebased_event["version"], rebased_event["updated_by"]) == (start + 2, "cy")
        assert recount(stack) == start + 2
        _, counted = next(stream)
        assert (counted["version"], counted["numbers_version"]) == (start + 2, start + 2)


@pytest.mark.skipif(chromium_path() is None and not os.environ.get("CI"), reason="chromium is not installed")
def test_an_open_screentime_page_follows_another_reviewers_edits_and_the_recount(stack, tmp_path: Path):
    browser = Browser(tmp_path / "chromium")
    try:
        browser.open(f"{stack['url']}/screentime?show={SHOW}")
        start = version(stack)
        browser.wait_for(f"document.body.dataset.numbers === '{start}' && "
                         "document.querySelectorAll('.chart g.bar').length > 0", 30, 0.1)
        browser.evaluate("window.sameDocument = true")  # gone if the page were reloaded
        status = "document.getElementById('status').textContent"
        assert browser.evaluate(status) == f"Counted at version {start} of {SHOW}'s people."
        top = int(browser.evaluate("document.querySelector('.chart g.bar').dataset.id"))

        assert edit(stack, start, {"action": "rename", "identity": top, "name": "Zed Live"}).status_code == 200
        browser.wait_for(f"document.body.dataset.version === '{start + 1}'", 10, 0.1)  # no reload, no poll
        assert browser.evaluate(status).startswith(f"The people changed (version {start + 1}); Dagster is recounting")
        assert recount(stack) == start + 1
        browser.wait_for(f"document.body.dataset.numbers === '{start + 1}'", 10, 0.1)
        assert browser.evaluate(status) == f"Counted at version {start + 1} of {SHOW}'s people."
        assert browser.evaluate(f"document.querySelector('.chart g.bar[data-id=\"{top}\"] text.label')"
                                ".textContent") == "Zed Live"
        # Two more edits, then one recount of the newest: the page says that version, never an older one.
        for name in ("Zed Two", "Zed Three"):
            current = version(stack)
            assert edit(stack, current, {"action": "rename", "identity": top, "name": name}).status_code == 200
        assert recount(stack) == start + 3
        browser.wait_for(f"document.body.dataset.numbers === '{start + 3}'", 10, 0.1)
        assert browser.evaluate(status) == f"Counted at version {start + 3} of {SHOW}'s people."
        assert browser.evaluate("document.querySelector('#table tbody tr th').textContent") == "Zed Three"
        assert browser.evaluate("window.sameDocument") is True
    finally:
        browser.close()


def test_a_split_inside_a_track_over_http_is_counted_by_the_recount_to_the_frame(stack):
    storage = LocalStorage(stack["data"])
    registry = load_registry(storage, SHOW)
    layout = EpisodeLayout(parse_episode_id(EP))
    run_id = registry.episodes[EP].run_id
    people = table_from_parquet(storage.get_bytes(layout.table_key(run_id, "people"))).to_pylist()
    detections = table_from_parquet(storage.get_bytes(layout.table_key(run_id, "detections")))
    owner = {key: p.identity for p in registry.episodes[EP].people for key in p.tracks}

    def frames(row) -> list[int]:
        return sorted({f for f, t in zip(detections["frame_index"].to_pylist(), detections["track_id"].to_pylist(),
                                         strict=True) if t == row["track_id"] and row["first_frame"] <= f
                       <= row["last_frame"]})

    row = max(people, key=lambda r: len(frames(r)))
    key, mine = f"{row['track_id']}.{row['part']}", frames(row)
    cut = mine[len(mine) // 2]
    base = registry.version
    bad = edit(stack, base, {"action": "split_track", "ep_id": EP, "track": key, "frame": mine[-1] + 1})
    assert bad.status_code == 422 and "leaves no face on one side" in bad.json()["detail"]
    split = edit(stack, base, {"action": "split_track", "ep_id": EP, "track": key, "frame": cut})
    assert split.status_code == 200, split.text
    new_id = load_registry(storage, SHOW).next_id - 1
    assert recount(stack) == base + 1
    rows = httpx.get(f"{stack['url']}/shows/{SHOW}/screentime", params={"ep_id": EP}, timeout=30).json()["rows"]
    seconds = {r["identity_id"]: r["seconds"] for r in rows}
    frame_seconds = FrameSeconds(table_from_parquet(storage.get_bytes(layout.table_key(run_id, "frames"))), 4.0)
    assert seconds[new_id] == pytest.approx(frame_seconds.of(np.array([f for f in mine if f >= cut])), abs=1e-3)
    assert owner[key] in seconds  # the frames before the cut still count for the track's person
