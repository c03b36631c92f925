"""A reviewer fixes a split show with the "same person?" page alone: real Chromium, a real
`screentime api`, real `dagster dev` recounting after every decision.

The show: the committed identity clip cut into two episodes, each run through the real Dagster
episode job, linked with a strict link distance so that five of its six people are split across
the two episodes (tests/split_show.py). The reviewer only presses `a`
(same person) or `r` (not the same) on the pair the page shows, as the clip's truth says; every
key is an action. Every split person must end as one person, in at most two actions each on
average, and Dagster's recount must count the last version. The figures (actions per fixed
person, seconds per action) go to $SCREENTIME_SUGGESTIONS_FIGURES when set
(bench/bench_suggestions.py writes them to bench/RESULTS.md); the screenshots to $SCREENSHOT_DIR.
"""

from __future__ import annotations

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

from screentime.contracts.names import SHOW_JOB, SHOWS
from screentime.identity.registry import load_registry
from screentime.identity.review import read_show_numbers
from screentime.identity.show_rollup import update_show
from screentime.storage import LocalStorage
from tests.browser import Browser, chromium_path
from tests.dagster_helpers import local_defs, run_episode_job
from tests.live_servers import start_api, start_dagster_dev, wait_for
from tests.split_show import SHOW, STRICT_LINK, cut_episodes, show_truth

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(chromium_path() is None, reason="needs chromium (apt-get install chromium)")]
MAX_ACTIONS = 40


def press(browser: Browser, key: str) -> None:
    code = f"Key{key.upper()}"
    browser.send("Input.dispatchKeyEvent", type="keyDown", key=key, code=code, text=key)
    browser.send("Input.dispatchKeyEvent", type="keyUp", key=key, code=code)


def test_a_split_show_is_fixed_by_accepting_suggestions_only(tmp_path, identity_people):
    home, data = tmp_path / "dagster_home", tmp_path / "data"
    home.mkdir()
    with resources.as_file(resources.files("screentime.pipelines").joinpath("dagster.yaml")) as shipped:
        shutil.copyfile(shipped, home / "dagster.yaml")
    videos = cut_episodes(identity_people, tmp_path / "videos")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        defs = local_defs(data)
        for ep_id, video in videos.items():
            assert run_episode_job(defs, instance, ep_id, video).success
        instance.add_dynamic_partitions(SHOWS, [SHOW])  # the show the people_edits sensor watches
    storage = LocalStorage(data)
    update_show(storage, SHOW, link=STRICT_LINK)
    start = load_registry(storage, SHOW)
    truth = show_truth(identity_people, data, start)
    split = truth.split(start)
    assert len(split) >= 4, split  # people split for real: across the episodes, and inside one

    env = {**os.environ, "DAGSTER_HOME": str(home), "SCREENTIME_DATA_DIR": str(data),
           "SCREENTIME_VIDEOS_DIR": str(tmp_path / "no-videos"), "STORAGE_BACKEND": "local"}
    dagster = start_dagster_dev(env, tmp_path / "dagster.log")
    api = browser = None
    shots = Path(os.environ.get("SCREENSHOT_DIR", tmp_path))
    try:
        # On its first tick the show_rollup sensor asks for a roll-up of the episodes published above;
        # it counts whatever version is newest when it runs. The reviewer starts once it is done, so
        # that every decision below is counted by its own edit run (on a fast machine the roll-up
        # could otherwise land after the decisions, count them itself, and leave no edit run).
        with dg.DagsterInstance.from_config(str(home)) as instance:
            wait_for(lambda: (runs := instance.get_runs(dg.RunsFilter(job_name=SHOW_JOB)))
                     and all(run.is_finished for run in runs), 180, 0.5, "the start-up roll-up")
        api = start_api({**env, "SCREENTIME_DAGSTER_URL": dagster.url}, tmp_path / "api.log")
        browser = Browser(tmp_path / "chromium", width=1280, height=900)
        browser.open(f"{api.url}/suggestions?show={SHOW}")
        browser.wait_for("document.body.dataset.ready === '1' && document.body.dataset.pair", 30)
        browser.wait_for("[...document.querySelectorAll('#pair img')].every((i) => i.complete && i.naturalWidth > 0)",
                         30)  # real crops, served from storage
        browser.screenshot(shots / "suggestions.png")

        actions, waits, decisions = 0, [], []
        while truth.split(load_registry(storage, SHOW)) and actions < MAX_ACTIONS:
            pair = browser.evaluate("document.body.dataset.pair")
            assert pair, "the page ran out of suggestions before every split person was fixed"
            a, b = (int(x) for x in pair.split("-"))
            same = truth.person_of[a] == truth.person_of[b]
            version = int(browser.evaluate("document.body.dataset.version"))
            started = time.monotonic()
            press(browser, "a" if same else "r")
            actions += 1
            browser.wait_for(f"document.body.dataset.version === '{version + 1}' && "
                             "document.body.dataset.ready === '1'", 30, 0.02)
            waits.append(time.monotonic() - started)
            decisions.append({"pair": [a, b], "same": same, "seconds": round(waits[-1], 3)})
            assert browser.evaluate("document.getElementById('problem').hidden"), \
                browser.evaluate("document.querySelector('#problem span').textContent")

        end = load_registry(storage, SHOW)
        assert not truth.split(end), truth.split(end)  # every split person is one person now
        assert all(len(ids) == 1 for ids in truth.fragments(end).values())
        per_person = actions / len(split)
        assert per_person <= 2, decisions

        # What is left is different people: "not the same" on the next one is remembered.
        left = browser.evaluate("document.body.dataset.pair")
        if left:
            a, b = (int(x) for x in left.split("-"))
            assert truth.person_of[a] != truth.person_of[b]
            press(browser, "r")
            browser.wait_for(f"document.body.dataset.version === '{end.version + 1}' && "
                             "document.body.dataset.ready === '1'", 30, 0.05)
            assert browser.evaluate("document.body.dataset.pair") != left
            browser.open(f"{api.url}/suggestions?show={SHOW}")  # a reload never offers it again
            browser.wait_for("document.body.dataset.ready === '1'", 30)
            assert browser.evaluate("document.body.dataset.pair") != left
            assert "not the same" in browser.evaluate("document.getElementById('count').textContent")

        # Dagster recounts the decisions: the show table counts the last version, one row per
        # real person and episode.
        last = load_registry(storage, SHOW).version
        asked = time.monotonic()
        wait_for(lambda: read_show_numbers(storage, SHOW).version == last, 240, 0.5, "the recount of the last version")
        recount_s = time.monotonic() - asked
        rows = read_show_numbers(storage, SHOW).rows
        per_episode = {(r["identity_id"], r["ep_id"]) for r in rows}
        assert len(per_episode) == len(rows) and len({r["identity_id"] for r in rows}) == len(truth.fragments(end))
        with dg.DagsterInstance.from_config(str(home)) as instance:
            edit_runs = instance.get_runs(dg.RunsFilter(tags={"screentime/launched_by": "edit"}))
        assert edit_runs, "no Dagster run recounted the decisions"
        figures = {"split_people": len(split), "actions": actions, "actions_per_fixed_person": round(per_person, 2),
                   "seconds_per_action": round(sum(waits) / len(waits), 3), "slowest_action_s": round(max(waits), 3),
                   "decisions": decisions, "recount_runs": len(edit_runs), "recount_s": round(recount_s, 1)}
        out = os.environ.get("SCREENTIME_SUGGESTIONS_FIGURES")
        if out:
            Path(out).write_text(json.dumps(figures, indent=1))
        print(json.dumps(figures))
        assert httpx.get(f"{api.url}/shows/{SHOW}/suggestions", timeout=30).json()["version"] == last
    finally:
        if browser is not None:
            browser.close()
        if api is not None:
            api.stop()
        dagster.stop(signal.SIGINT)
