"""Runs launched the ways a deployment launches them, with the progress logger on for each.

One `dagster dev` (webserver + daemon, temporary DAGSTER_HOME seeded with the shipped
dagster.yaml) and one `screentime api` serve the module. Runs launched through the webserver use
the multiprocess executor: every step in its own process, all writing the same progress files.
"""

import json
import os
import shutil
import signal
import time
from importlib import resources
from pathlib import Path

import dagster as dg
import httpx
import pytest
from dagster_graphql import DagsterGraphQLClient

from screentime.assets.partitions import EPISODES
from screentime.contracts.episode import parse_episode_id
from screentime.contracts.names import EPISODE_JOB
from screentime.contracts.options import RunOptions
from screentime.contracts.run_config import episode_run_config
from screentime.progress.store import ProgressStore
from screentime.storage import LocalStorage
from tests.browser import Browser, chromium_path
from tests.live_servers import read_events, start_api, start_dagster_dev, wait_for

# The whole stack (dagster dev's webserver and daemon, the API, Chromium) with every step in its
# own process: minutes on 2 cores, so `make test-slow` (run by CI) rather than `make test`.
pytestmark = pytest.mark.slow

TERMINAL_RUN = {"SUCCESS", "FAILURE", "CANCELED"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("stack")
    home = root / "dagster_home"
    home.mkdir()
    with resources.as_file(resources.files("screentime.pipelines").joinpath("dagster.yaml")) as shipped:
        shutil.copyfile(shipped, home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "SCREENTIME_DATA_DIR": str(root / "data"),
           "SCREENTIME_VIDEOS_DIR": str(root / "videos"), "STORAGE_BACKEND": "local",
           "SCREENTIME_API_POLL_S": "0.1"}
    dagster = start_dagster_dev(env, root / "dagster.log")
    api = None
    try:
        wait_for(lambda: EPISODE_JOB in httpx.post(f"{dagster.url}/graphql", json={
            "query": "{ repositoriesOrError { ... on RepositoryConnection { nodes { jobs { name } } } } }"
        }).text, 120, 0.5, "the code location to load")
        api = start_api({**env, "SCREENTIME_DAGSTER_URL": dagster.url}, root / "api.log")
        with dg.DagsterInstance.from_config(str(home)) as instance:
            # A run status sensor only sees runs that end after its first tick.
            wait_for(lambda: len(ticked_sensors(instance)) == 3, 120, 0.5, "the progress sensors' first ticks")
            yield {"dagster": dagster, "api": api, "data": root / "data", "instance": instance, "root": root}
    finally:
        if api is not None:
            api.stop()
        dagster.stop(signal.SIGINT)  # dagster dev shuts its webserver, daemon and code server down on ^C


def ticked_sensors(instance) -> set[str]:
    states = [s for s in instance.all_instigator_state() if s.name.startswith("episode_progress_on_")]
    return {s.name for s in states if instance.get_ticks(s.instigator_origin_id, s.selector_id, limit=1)}


def run_status(stack, run_id: str) -> str:
    return stack["instance"].get_run_by_id(run_id).status.value


def wait_run(stack, run_id: str, timeout_s: float = 240) -> str:
    return wait_for(lambda: (s := run_status(stack, run_id)) in TERMINAL_RUN and s, timeout_s, 0.5,
                    f"run {run_id} to end")


def history(stack, ep_id: str, run_id: str):
    return ProgressStore(LocalStorage(stack["data"])).history(parse_episode_id(ep_id), run_id)


def manifest(stack, ep_id: str) -> dict:
    ep = parse_episode_id(ep_id)
    return json.loads((stack["data"] / f"artifacts/manifests/{ep.relative_dir}/manifest.json").read_text())


def step_pids(stack, run_id: str) -> dict[str, int]:
    starts = [e for e in stack["instance"].all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)]
    return {e.dagster_event.step_key: e.dagster_event.pid for e in starts}


def assert_complete_stream(records) -> None:
    seqs, ratios = [r.seq for r in records], [r.ratio for r in records]
    assert seqs == list(range(1, len(seqs) + 1)), seqs  # one stream, whichever process wrote
    assert ratios == sorted(ratios) and ratios[-1] == 1.0 and records[-1].phase == "done"


def test_run_launched_through_the_webservers_graphql_api_writes_progress_from_each_step_process(stack, carphone):
    ep_id = "carphone-s01e01"
    stack["instance"].add_dynamic_partitions(EPISODES, [ep_id])
    port = int(stack["dagster"].url.rsplit(":", 1)[1])
    client = DagsterGraphQLClient("127.0.0.1", port_number=port)
    run_id = client.submit_job_execution(
        EPISODE_JOB, run_config=episode_run_config(RunOptions(), str(carphone)), tags={"dagster/partition": ep_id},
    )
    assert wait_run(stack, run_id) == "SUCCESS"
    records = history(stack, ep_id, run_id)
    assert_complete_stream(records)
    assert records[-1].counts.model_dump() == manifest(stack, ep_id)["counts"]
    pids = step_pids(stack, run_id)
    checks = {"detections_boxes_inside_frame", "tracks_tracks_within_episode", "people_every_track_one_person",
              "screentime_within_episode_length"}  # Dagster's asset checks, each a step of its own
    assert set(pids) == {"episode_analysis", "embeddings", "people", "screentime", "manifests", *checks}
    assert len(set(pids.values())) == len(pids)  # multiprocess: each step in its own process


def test_api_launch_route_runs_through_dagster_and_streams_the_run(stack, carphone):
    ep_id = "carphone-s02e01"
    with httpx.stream("POST", f"{stack['api'].url}/jobs/detect_track", timeout=300,
                      headers={"Accept": "text/event-stream"},
                      json={"ep_id": ep_id, "video": str(carphone), "fps": 10, "save_frames": True}) as response:
        assert response.status_code == 200
        run_id = response.headers["x-screentime-run-id"]
        events, _ = read_events(response)
    assert [int(e.id) for e in events] == list(range(1, len(events) + 1))
    assert events[-1].event == "done" and events[-1].data["counts"] == manifest(stack, ep_id)["counts"]
    assert events[-1].data["counts"]["frames_saved"] == 40  # the options reached the run
    run = stack["instance"].get_run_by_id(run_id)
    assert run.tags["screentime/launched_by"] == "api" and run.tags["dagster/partition"] == ep_id
    assert set(run.run_config["loggers"]) == {"progress", "console"}
    assert wait_run(stack, run_id) == "SUCCESS"
    assert_complete_stream(history(stack, ep_id, run_id))


def test_api_launch_route_answers_with_the_run_and_its_urls(stack, carphone):
    ep_id = "carphone-s02e02"
    response = httpx.post(f"{stack['api'].url}/jobs/detect_track", json={"ep_id": ep_id, "video": str(carphone)})
    assert response.status_code == 201
    body = response.json()
    assert body["dagster_run_url"] == f"{stack['dagster'].url}/runs/{body['run_id']}"
    assert body["events_url"].endswith(f"/episodes/{ep_id}/events?run_id={body['run_id']}")
    with httpx.stream("GET", body["events_url"], timeout=300) as stream:
        events, _ = read_events(stream)
    assert events[-1].event == "done" and events[-1].data["run_id"] == body["run_id"]
    assert httpx.get(body["progress_url"]).json()["phase"] == "done"
    assert httpx.get(body["dagster_run_url"]).status_code == 200

    # A re-run, followed the way a script would: the events URL without run_id, right after launch,
    # follows the new run (not the finished one's replay), and polling already names it.
    again = httpx.post(f"{stack['api'].url}/jobs/detect_track", json={"ep_id": ep_id, "video": str(carphone)}).json()
    polled = httpx.get(again["progress_url"]).json()
    assert polled["run_id"] == again["run_id"] and polled["phase"] in ("queued", "starting", "detecting")
    with httpx.stream("GET", f"{stack['api'].url}/episodes/{ep_id}/events", timeout=300) as stream:
        events, _ = read_events(stream)
    assert {e.data["run_id"] for e in events} == {again["run_id"]} and events[-1].event == "done"


def test_api_refuses_bad_launches_before_dagster_adds_a_partition_or_a_run(stack, carphone, truncated_video, tmp_path):
    ep_id = "refused-s01e01"
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    partitions = set(stack["instance"].get_dynamic_partitions(EPISODES))
    for fields in ({"video": str(tmp_path / "missing.mp4")}, {"video": str(text)}, {"video": str(truncated_video)},
                   {"fps": -1}, {"jpeg_quality": 101}, {"device": "tpu"}, {"ep_id": "../refused-s01e01"}):
        response = httpx.post(f"{stack['api'].url}/jobs/detect_track",
                              json={"ep_id": ep_id, "video": str(carphone), **fields}, timeout=30)
        assert response.status_code == 422, (fields, response.text)
    assert set(stack["instance"].get_dynamic_partitions(EPISODES)) == partitions
    assert not stack["instance"].get_runs(dg.RunsFilter(tags={"dagster/partition": ep_id}))
    assert not (stack["data"] / "artifacts/manifests/refused").exists()


def test_cancelled_run_ends_with_an_error_record(stack, cap13):
    ep_id = "cap-s09e01"
    body = httpx.post(f"{stack['api'].url}/jobs/detect_track", json={"ep_id": ep_id, "video": str(cap13)}).json()
    run_id = body["run_id"]
    wait_for(lambda: any(r.frames_total for r in history(stack, ep_id, run_id)), 180, 0.2,
             "the run's first record with its frame count")  # not just the API's `queued` record
    port = int(stack["dagster"].url.rsplit(":", 1)[1])
    DagsterGraphQLClient("127.0.0.1", port_number=port).terminate_run(run_id)
    assert wait_run(stack, run_id) == "CANCELED"
    last = wait_for(lambda: (h := history(stack, ep_id, run_id)) and h[-1].terminal and h[-1], 60, 0.5,
                    "a terminal record")
    assert last.phase == "error" and last.ratio < 1.0 and "cancelled" in last.error
    assert last.frames_total == 765 and last.device == "cpu"  # the end keeps the run's last progress
    records = history(stack, ep_id, run_id)
    assert [r.seq for r in records] == list(range(1, len(records) + 1))


def test_crashed_step_process_ends_with_an_error_record_from_the_failure_sensor(stack, cap13):
    ep_id = "cap-s09e02"
    body = httpx.post(f"{stack['api'].url}/jobs/detect_track", json={"ep_id": ep_id, "video": str(cap13)}).json()
    run_id = body["run_id"]
    wait_for(lambda: any(r.frames_total for r in history(stack, ep_id, run_id)), 180, 0.2,
             "the run's first record with its frame count")  # not just the API's `queued` record
    os.kill(step_pids(stack, run_id)["episode_analysis"], signal.SIGKILL)  # no chance to write its end
    assert wait_run(stack, run_id) == "FAILURE"
    last = wait_for(lambda: (h := history(stack, ep_id, run_id)) and h[-1].terminal and h[-1], 60, 0.5,
                    "the failure sensor's terminal record")
    assert last.phase == "error" and last.error_type == "ChildProcessCrashException"
    assert "process died" in last.error and last.frames_total == 765


# Skipped only off CI: there `.ci/run` installs chromium, and a missing browser must fail.
@pytest.mark.skipif(chromium_path() is None and not os.environ.get("CI"), reason="chromium is not installed")
@pytest.mark.parametrize("transport", ["sse", "poll"])
def test_live_page_launches_a_run_shows_the_bar_moving_and_the_final_counts(stack, cap13, tmp_path, transport):
    ep_id = {"sse": "cap-s03e01", "poll": "cap-s03e02"}[transport]
    browser = Browser(tmp_path / "chromium-profile")
    shots = Path(os.environ.get("SCREENTIME_SCREENSHOT_DIR", tmp_path))
    try:
        browser.open(stack["api"].url + ("/" if transport == "sse" else "/?transport=poll"))
        browser.evaluate(f"""(() => {{
            const f = document.getElementById('run-form');
            f.ep_id.value = {json.dumps(ep_id)}; f.video.value = {json.dumps(str(cap13))}; f.fps.value = '10';
            f.querySelector('button').click(); return true; }})()""")
        card = f"document.querySelector('li.episode[data-ep=\"{ep_id}\"]')"
        widths, shot = [], None
        while True:
            state = browser.wait_for(f"""(() => {{ const el = {card}; return el && el.dataset.run && {{
                phase: el.dataset.phase, width: el.querySelector('.fill').style.width,
                live: el.querySelector('.live').textContent }}; }})()""", 240, 0.1)
            width = float(state["width"].rstrip("%") or 0)
            if not widths or width != widths[-1]:
                widths.append(width)
            if shot is None and 30 <= width < 90:
                shot = browser.screenshot(shots / f"live-page-{transport}-running.png")
            if state["phase"] in ("done", "error"):
                break
        assert state["phase"] == "done" and state["live"] == {"sse": "live (SSE)", "poll": "polling"}[transport]
        assert widths == sorted(widths) and widths[-1] == 100
        assert len([w for w in widths if 0 < w < 100]) >= 3, widths  # the bar was seen moving
        summary = browser.evaluate(f"""(() => {{ const el = {card};
            const pairs = (sel) => Object.fromEntries([...el.querySelectorAll(sel + ' dt')].map(
                (dt) => [dt.textContent, dt.nextElementSibling.textContent]));
            return {{counts: pairs('.counts'), artifacts: pairs('.artifacts'),
                     link: el.querySelector('.run-link').href, run: el.dataset.run,
                     visible: !el.querySelector('.summary').hidden}}; }})()""")
        browser.screenshot(shots / f"live-page-{transport}-done.png")
        m = manifest(stack, ep_id)
        assert summary["visible"] and summary["counts"]["detections"] == str(m["counts"]["detections"])
        assert summary["counts"]["tracks"] == str(m["counts"]["tracks"])
        assert summary["counts"]["crops saved"] == str(m["counts"]["crops_saved"])
        assert summary["artifacts"] == m["artifacts"]
        assert summary["link"] == f"{stack['dagster'].url}/runs/{m['run_id']}" and summary["run"] == m["run_id"]
    finally:
        browser.close()


def people_view(stack, show: str) -> dict | None:
    response = httpx.get(f"{stack['api'].url}/shows/{show}/people", params={"limit": 500}, timeout=30)
    return response.json() if response.status_code == 200 else None


def counted(stack, show: str, version: int | None = None) -> dict | None:
    """The show's people once Dagster counted its table at the registry's version (or `version`)."""
    view = people_view(stack, show)
    if view and view["numbers_version"] == view["version"] and view["version"] >= (version or 1):
        return view
    return None


@pytest.mark.skipif(chromium_path() is None and not os.environ.get("CI"), reason="chromium is not installed")
def test_review_page_names_merges_splits_and_the_screentime_page_shows_dagsters_recount(
        stack, group_shots, tmp_path):
    ep_id, show = "group-s01e01", "group"
    response = httpx.post(f"{stack['api'].url}/jobs/detect_track", timeout=60,
                          json={"ep_id": ep_id, "video": str(group_shots), "fps": 4})
    assert response.status_code == 201, response.text
    assert wait_run(stack, response.json()["run_id"]) == "SUCCESS"
    before = wait_for(lambda: counted(stack, show), 240, 1, "the show_rollup sensor's run to count the show")
    shots = Path(os.environ.get("SCREENSHOT_DIR", os.environ.get("SCREENTIME_SCREENSHOT_DIR", tmp_path)))
    browser, second = Browser(tmp_path / "tab-1"), Browser(tmp_path / "tab-2")
    try:
        # A second reviewer, opened first, whose page gets no live updates (a proxy that drops event
        # streams): it stays on the version it loaded, so its edit of a person changed since conflicts.
        second.send("Network.enable")
        second.send("Network.setBlockedURLs", urls=["*/events*"])
        second.open(f"{stack['api'].url}/review?show={show}&ep={ep_id}")
        second.wait_for("document.querySelectorAll('.person').length > 0", 30)
        browser.open(stack["api"].url + "/")
        link = browser.wait_for(f"""(() => {{ const a = document.querySelector(
            'li.episode[data-ep="{ep_id}"][data-phase="done"] .review-link'); return a && a.href; }})()""", 30)
        browser.evaluate(f"""document.querySelector('li.episode[data-ep="{ep_id}"] .review-link').click()""")
        browser.wait_for("location.pathname === '/review' && document.querySelectorAll('.person').length > 0", 30)
        assert link.endswith(f"/review?show={show}&ep={ep_id}")
        cards = browser.evaluate("[...document.querySelectorAll('.person')].map((c) => Number(c.dataset.id))")
        assert cards == [p["id"] for p in before["people"]][:len(cards)]  # most seconds first
        assert browser.wait_for("[...document.querySelectorAll('.person img.face')].some((i) => i.complete "
                                "&& i.naturalWidth > 0)", 30)  # real crops, served by the API from storage
        a, b, c = cards[:3]
        version = before["version"]

        def saved(n: int) -> None:
            browser.wait_for(f"document.body?.dataset.version === '{n}'", 30)

        browser.evaluate(f"""(() => {{ const card = document.querySelector('.person[data-id="{a}"]');
            card.querySelector('.name').value = 'Ann Lee';
            card.querySelector('.rename button').click(); return 1; }})()""")
        saved(version + 1)
        browser.evaluate(f"""(() => {{ for (const id of [{a}, {b}])
            document.querySelector(`.person[data-id="${{id}}"] .select`).click(); return 1; }})()""")
        assert browser.evaluate("document.getElementById('merge').textContent") == f"Merge person {b} into Ann Lee"
        browser.send("Input.dispatchKeyEvent", type="keyDown", key="m", code="KeyM", text="m")  # `m` merges
        browser.send("Input.dispatchKeyEvent", type="keyUp", key="m", code="KeyM")
        saved(version + 2)
        assert browser.evaluate(f"document.querySelector('.person[data-id=\"{b}\"]') === null")
        track = browser.evaluate(f"document.querySelector('.person[data-id=\"{c}\"] .track').dataset.track")
        browser.evaluate(f"document.querySelector('.person[data-id=\"{c}\"] .track[data-track=\"{track}\"] "
                         ".split').click()")
        saved(version + 3)
        assert "Recounting" in browser.evaluate("document.getElementById('status').textContent")

        second.evaluate(f"""(() => {{ const card = document.querySelector('.person[data-id="{c}"]');
            card.querySelector('.name').value = 'Cy'; card.querySelector('.rename button').click(); return 1; }})()""")
        refused = second.wait_for("!document.getElementById('problem').hidden && "
                                  "document.querySelector('#problem span').textContent", 30)
        assert second.evaluate("document.body.dataset.version") == str(version)  # it was still stale
        assert f"changed since version {version}" in refused and "reload and make the change again" in refused

        # The edits' Dagster runs (people_edits sensor) recount; the page notices when the last is done.
        browser.wait_for(f"document.body?.dataset.numbers === '{version + 3}'", 240, 1)
        edit_runs = stack["instance"].get_runs(dg.RunsFilter(tags={"screentime/launched_by": "edit"}))
        assert edit_runs and all(r.tags["dagster/partition"] == show for r in edit_runs)
        browser.screenshot(shots / "review-page.png")
        after = people_view(stack, show)
        ann = next(p for p in after["people"] if p["id"] == a)
        old = {p["id"]: p["seconds"] for p in before["people"]}
        assert max(old[a], old[b]) <= ann["seconds"] <= old[a] + old[b] + 1e-6 and ann["name"] == "Ann Lee"
        new = next(p for p in after["people"] if p["id"] > max(old) and p["tracks"][0]["track"] == track)

        browser.evaluate("document.getElementById('screentime-link').click()")
        browser.wait_for(f"location.pathname === '/screentime' && document.body?.dataset.numbers === '{version + 3}' "
                         "&& document.querySelectorAll('.chart g.bar').length > 0", 30)
        bars = browser.evaluate("""Object.fromEntries([...document.querySelectorAll('.chart g.bar')].map(
            (g) => [g.dataset.id, [Number(g.dataset.seconds), g.querySelector('text').textContent]]))""")
        assert bars[str(a)][1] == "Ann Lee" and bars[str(a)][0] == pytest.approx(ann["seconds"], abs=1e-3)
        assert str(b) not in bars and bars[str(new["id"])][0] == pytest.approx(new["seconds"], abs=1e-3)
        table = browser.evaluate("""({problem: !document.getElementById('problem').hidden,
            rows: Object.fromEntries([...document.querySelectorAll('#table tbody tr')].map(
                (tr) => [tr.dataset.id, tr.querySelector('td.total').textContent])),
            csv: document.getElementById('csv').href})""")
        assert not table["problem"] and len(table["rows"]) == len(bars)
        assert table["rows"][str(a)] == f"{ann['seconds']:.1f}"
        assert table["csv"].endswith(f"/shows/{show}/screentime.csv?ep_id={ep_id}")
        browser.wait_for("[...document.querySelectorAll('.chart image')].length > 0", 10)
        time.sleep(1)  # the thumbnails' pixels, for the screenshot
        browser.screenshot(shots / "screentime-page.png")
    finally:
        browser.close()
        second.close()
