"""The review and Screentime pages in real headless Chromium, on a real analysed episode: each
defect found on review (issue 22, item 5) and the hazards of item 3, pinned by a test that failed
before its fix; and the faces a reviewer can judge (item 2): compact cards, the larger view of any
crop with its frame, its moment and the episode's video there, every track reachable, the
"reviewed" mark and the suggestions on the cards.

group_shots.mp4 runs once through the Dagster episode job (frames saved) and its show is rolled up; each test
gets its own copy of that data folder and its own `screentime api` process, so edits never leak
from one test into the next. A recount is what the `people_edits` sensor's run does
(`update_show`), called here directly.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import dagster as dg
import httpx
import pyarrow as pa
import pytest

from screentime.contracts.episode import parse_episode_id
from screentime.contracts.layout import EpisodeLayout
from screentime.identity.registry import load_registry
from screentime.identity.show_rollup import update_show
from screentime.storage import LocalStorage
from screentime.storage.parquet import table_from_parquet, table_to_parquet
from tests.browser import Browser, chromium_path
from tests.dagster_helpers import local_defs, run_episode_job
from tests.live_servers import start_api
from tests.split_show import SHOW as SPLIT
from tests.split_show import STRICT_LINK, cut_episodes

SHOW, EP = "group", "group-s01e01"
KEY_CODES = {"Escape": 27, "Enter": 13, "ArrowDown": 40, "ArrowUp": 38, "ArrowRight": 39, "ArrowLeft": 37, "Tab": 9}
PUNCTUATION = {"/": ("Slash", 191), "[": ("BracketLeft", 219), "]": ("BracketRight", 221)}

pytestmark = pytest.mark.skipif(chromium_path() is None and not os.environ.get("CI"),
                                reason="chromium is not installed")


@pytest.fixture(scope="module")
def analysed(tmp_path_factory, group_shots) -> Path:
    """A data folder with group_shots analysed by the Dagster job and its show rolled up."""
    data = tmp_path_factory.mktemp("review-page") / "data"
    with dg.instance_for_test() as instance:
        assert run_episode_job(local_defs(data), instance, EP, group_shots, fps=4, save_frames=True).success
    update_show(LocalStorage(data), SHOW)
    return data


class Page:
    """One test's API (on its own copy of the data) and one Chromium tab."""

    def __init__(self, root: Path, data: Path, show: str = SHOW):
        self.data, self.storage, self.show = data, LocalStorage(data), show
        env = {**os.environ, "SCREENTIME_DATA_DIR": str(data), "STORAGE_BACKEND": "local"}
        env.pop("SCREENTIME_API_TOKEN", None)
        self.api = start_api(env, root / "api.log")
        self.url = self.api.url
        self.browser = Browser(root / "chromium")
        self.shots = Path(os.environ.get("SCREENTIME_SCREENSHOT_DIR", root))

    def people(self, **params) -> dict:
        response = httpx.get(f"{self.url}/shows/{self.show}/people", params={"limit": 500, **params}, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def edit(self, change: dict) -> dict:
        version = self.people(limit=1)["version"]
        response = httpx.post(f"{self.url}/shows/{self.show}/people/edits", timeout=30,
                              json={"base_version": version, "by": "tester", "edit": change})
        assert response.status_code == 200, response.text
        return response.json()

    def open(self, path: str) -> None:
        self.browser.open(self.url + path)
        if path.startswith("/review"):
            self.wait("document.querySelectorAll('.person').length > 0")
        else:
            self.wait("document.querySelectorAll('.chart g.bar').length > 0")

    def js(self, expression: str):
        return self.browser.evaluate(expression)

    def wait(self, expression: str, timeout_s: float = 30):
        return self.browser.wait_for(expression, timeout_s, 0.1)

    def key(self, key: str, code: str | None = None) -> None:
        """A real key press (keyDown with its text, keyUp), as Chromium gets it from a keyboard."""
        code = code or (f"Key{key.upper()}" if len(key) == 1 and key.isalpha() else key)
        down = {"type": "keyDown", "key": key, "code": code}
        if key in KEY_CODES:
            down["windowsVirtualKeyCode"] = down["nativeVirtualKeyCode"] = KEY_CODES[key]
        if key == "Enter":
            down["text"] = "\r"  # what submits a form
        elif key in PUNCTUATION:
            down["text"], (down["code"], down["windowsVirtualKeyCode"]) = key, PUNCTUATION[key]
            code = down["code"]
        elif len(key) == 1:
            down["text"] = key
            down["windowsVirtualKeyCode"] = ord(key.upper())
        self.browser.send("Input.dispatchKeyEvent", **down)
        self.browser.send("Input.dispatchKeyEvent", type="keyUp", key=key, code=code,
                          windowsVirtualKeyCode=down["windowsVirtualKeyCode"])

    def viewport(self, width: int, height: int) -> None:
        self.browser.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                          mobile=False)

    def mouse(self, selector: str) -> None:
        """Moves the real pointer onto the middle of the element (hover), or off the page with ''."""
        x, y = (self.js(f"""(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();
            return [r.x + r.width / 2, r.y + r.height / 2]; }})()""") if selector else (1, 1))
        self.browser.send("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)

    def sleep(self, seconds: float) -> None:
        self.js(f"new Promise((done) => setTimeout(done, {int(seconds * 1000)}))")

    def type(self, text: str) -> None:
        self.browser.send("Input.insertText", text=text)

    def focus(self, selector: str) -> None:
        self.js(f"document.querySelector({json.dumps(selector)}).focus()")

    def cards(self) -> list[int]:
        return self.js("[...document.querySelectorAll('.person')].map((c) => Number(c.dataset.id))")

    def version(self) -> int:
        return int(self.js("document.body.dataset.version"))

    def saved(self, version: int) -> None:
        self.wait(f"document.body.dataset.version === '{version}'")

    def close(self) -> None:
        self.browser.close()
        self.api.stop()


@pytest.fixture
def page(analysed, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(analysed, data)
    opened = Page(tmp_path, data)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(scope="module")
def split_analysed(tmp_path_factory, identity_people) -> Path:
    """A show with people to suggest: the identity clip as two episodes, linked strictly
    (tests/split_show.py). group_shots has none: all its people are on screen together at once."""
    root = tmp_path_factory.mktemp("review-split")
    videos = cut_episodes(identity_people, root / "videos")
    with dg.instance_for_test() as instance:
        defs = local_defs(root / "data")
        for ep_id, video in videos.items():
            assert run_episode_job(defs, instance, ep_id, video).success
    update_show(LocalStorage(root / "data"), SPLIT, link=STRICT_LINK)
    return root / "data"


@pytest.fixture
def split_page(split_analysed, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(split_analysed, data)
    opened = Page(tmp_path, data, SPLIT)
    try:
        yield opened
    finally:
        opened.close()


def card(person: int) -> str:
    return f'.person[data-id="{person}"]'


# --- item 5: the defects found on review ------------------------------------------------------------


def test_j_after_a_search_lands_on_the_first_result_and_x_m_merge_the_people_shown(page):
    page.open(f"/review?show={SHOW}")
    everyone = page.cards()
    for _ in range(6):
        page.key("j")  # the sixth card has the focus
    assert page.js("document.activeElement.dataset.id") == str(everyone[5])
    page.key("/")
    page.type("person 1")  # person 1, 10-19: fewer cards than before
    page.wait("document.querySelectorAll('.person').length > 0 && "
              "[...document.querySelectorAll('.person')].every((c) => c.querySelector('.name').placeholder"
              ".startsWith('person 1'))")
    found = page.cards()
    assert len(found) >= 2
    page.js("document.activeElement.blur()")  # out of the box, the filter kept
    page.key("j")
    assert page.js("document.activeElement.dataset.id") == str(found[0])  # before: the 6th result
    page.key("x")
    page.key("j")
    page.key("x")
    assert page.js("document.getElementById('merge').textContent") == \
        f"Merge person {found[1]} into person {found[0]}"
    version = page.version()
    page.key("m")
    page.saved(version + 1)
    after = page.people()
    assert after["reason"] == f"merged person {found[1]} into person {found[0]}"


def test_one_arrow_key_in_move_to_moves_nothing_and_it_is_a_search_over_faces(page):
    page.open(f"/review?show={SHOW}")
    version = page.version()
    first, second, third = page.cards()[:3]
    page.focus(f"{card(first)} .track .move")
    page.key("ArrowDown")
    page.key("ArrowDown")
    page.js("new Promise((done) => setTimeout(done, 800))")
    assert page.people(limit=1)["version"] == version  # before: one ArrowDown moved the track
    assert page.version() == version
    # The keyboard way: on a card, l to its first track, t opens the search.
    page.focus(card(first))
    page.key("l")
    track = page.js("document.activeElement.dataset.track")
    assert track == page.js(f"document.querySelector('{card(first)} .track').dataset.track")
    page.key("t")
    page.wait("document.activeElement?.closest('.picker') !== null")
    for _ in range(3):
        page.key("ArrowDown")  # only the highlight moves
    assert page.js("document.querySelector('.picker .match.current')?.dataset.id") is not None
    page.js("new Promise((done) => setTimeout(done, 500))")
    assert page.people(limit=1)["version"] == version
    page.type(f"person {third}")
    page.wait(f"[...document.querySelectorAll('.picker .match')].some((m) => m.dataset.id === '{third}')")
    shown = page.js("[...document.querySelectorAll('.picker .match')].map((m) => "
                    "[m.dataset.id, m.querySelector('img')?.getAttribute('src') || '']).slice(0, 1)")
    assert shown[0][0] == str(third) and "/crops/" in shown[0][1]  # each with their face
    page.key("ArrowDown")
    page.key("Enter")
    page.saved(version + 1)
    assert page.people(limit=1)["reason"] == f"moved track {track} of {EP} to person {third}"
    assert page.js(f"document.querySelector('{card(third)} .track[data-track=\"{track}\"]') !== null")


def test_a_refused_edit_and_a_typed_name_survive_the_recount(page):
    page.open(f"/review?show={SHOW}")
    a, b, c = page.cards()[:3]
    version = page.version()
    page.js(f"""(() => {{ const n = document.querySelector('{card(a)} .name'); n.value = 'Ann';
        document.querySelector('{card(a)} .rename button').click(); return 1; }})()""")
    page.saved(version + 1)  # the page now waits for Dagster's recount
    page.js(f"""(() => {{ const n = document.querySelector('{card(b)} .name'); n.value = 'Bea <b>';
        document.querySelector('{card(b)} .rename button').click(); return 1; }})()""")
    refused = page.wait("!document.getElementById('problem').hidden && "
                        "document.querySelector('#problem span').textContent")
    assert "422" in refused and "a name may" in refused
    page.js(f"document.querySelector('{card(c)} .name').value = 'Cy half typed'")
    update_show(page.storage, SHOW)  # the recount lands
    page.wait(f"document.body.dataset.numbers === '{version + 1}'", 30)
    page.js("new Promise((done) => setTimeout(done, 300))")
    assert not page.js("document.getElementById('problem').hidden")  # before: gone with the reload
    assert page.js(f"document.querySelector('{card(b)} .name').value") == "Bea <b>"
    assert page.js(f"document.querySelector('{card(c)} .name').value") == "Cy half typed"  # before: wiped


def test_reload_drops_the_selection_of_people_who_are_gone(page):
    page.open(f"/review?show={SHOW}")
    a, b, c = page.cards()[:3]
    for person in (a, b):
        page.js(f"document.querySelector('{card(person)} .select').click()")
    assert page.js("document.getElementById('merge').textContent") == f"Merge person {b} into person {a}"
    page.edit({"action": "merge", "into": c, "identities": [a]})  # another reviewer: a is gone
    page.js(f"""(() => {{ const n = document.querySelector('{card(c)} .name'); n.value = 'Cy';
        document.querySelector('{card(c)} .rename button').click(); return 1; }})()""")
    page.wait("!document.getElementById('problem').hidden")  # 409: Reload
    page.js("document.getElementById('reload').click()")
    page.wait(f"document.querySelector('{card(a)}') === null")
    merge = page.js("({text: document.getElementById('merge').textContent, "
                    "disabled: document.getElementById('merge').disabled})")
    assert merge == {"text": "Merge selected", "disabled": True}  # before: "Merge person b into person a"
    assert page.js("[...document.querySelectorAll('.person.selected')].map((c) => Number(c.dataset.id))") == [b]


def test_left_out_reasons_read_as_words(page):
    person = page.people()["people"][0]
    page.edit({"action": "hide", "identity": person["id"], "reason": "not_a_face"})
    page.edit({"action": "exclude_track", "ep_id": EP, "track": person["tracks"][0]["track"], "reason": "not_a_face"})
    page.open(f"/review?show={SHOW}&ep={EP}")
    page.js("document.getElementById('hidden').click()")
    page.wait(f"document.querySelector('{card(person['id'])}') !== null")
    track = person["tracks"][0]["track"]
    texts = page.js(f"""(() => {{ const c = document.querySelector('{card(person['id'])}');
        return [c.querySelector('.numbers').textContent,
                c.querySelector('.track[data-track="{track}"] .track-facts').textContent]; }})()""")
    assert all("left out (not a face)" in text for text in texts), texts  # before: "not a_face"


def test_a_person_whose_every_track_is_left_out_says_so(page):
    view = page.people(tracks=500)
    person = min(view["people"], key=lambda p: p["tracks_total"])
    for track in person["tracks"]:
        page.edit({"action": "exclude_track", "ep_id": EP, "track": track["track"], "reason": "ignore"})
    update_show(page.storage, SHOW)  # counted: the person has no seconds left
    page.open(f"/review?show={SHOW}")
    numbers = page.wait(f"document.querySelector('{card(person['id'])} .numbers')?.textContent")
    assert "every track left out" in numbers, numbers
    for wrong in ("not counted yet", "– appearances", "0 episodes"):
        assert wrong not in numbers, numbers


def test_long_names_stop_before_the_bars(page):
    person = page.people()["people"][0]
    long = "Maximiliana Theodora Wilhelmina von Habsburg-Lothringen-Este y Borbón-Dos Sicilias"[:80]
    page.edit({"action": "rename", "identity": person["id"], "name": long})
    update_show(page.storage, SHOW)
    page.open(f"/screentime?show={SHOW}")
    label = page.js(f"""(() => {{ const g = document.querySelector('.chart g.bar[data-id="{person['id']}"]');
        const text = g.querySelector('text.label, text.label.unnamed') || g.querySelector('text');
        const box = text.getBBox();
        return {{right: box.x + box.width, bar: Number(g.querySelector('rect').getAttribute('x')),
                 title: g.querySelector('title').textContent}}; }})()""")
    page.browser.screenshot(page.shots / "screentime-long-name.png")
    assert label["right"] <= label["bar"] - 4, label  # before: the name ran under the bar
    assert label["title"].startswith(long)  # the whole name is one hover away


def test_escape_in_find_clears_the_filter(page):
    page.open(f"/review?show={SHOW}")
    everyone = page.js("document.querySelector('.pager .range').textContent")
    page.key("/")
    page.type("person 1")
    page.wait(f"document.querySelector('.pager .range').textContent !== {json.dumps(everyone)}")
    page.key("Escape", "Escape")
    page.wait(f"document.querySelector('.pager .range').textContent === {json.dumps(everyone)}", 10)
    assert page.js("document.getElementById('q').value") == ""


# --- item 3: fixes without hazards -----------------------------------------------------------------


def test_n_selects_the_name_and_the_same_name_again_is_no_edit(page):
    person = page.people()["people"][0]["id"]
    page.edit({"action": "rename", "identity": person, "name": "Old Name"})
    page.open(f"/review?show={SHOW}")
    version = page.version()
    page.key("j")
    page.key("n")
    page.type("Ann")  # replaces the selected name (before: "Old NameAnn")
    assert page.js(f"document.querySelector('{card(person)} .name').value") == "Ann"
    page.key("Enter")
    page.saved(version + 1)
    assert page.people(limit=1)["reason"] == "renamed Old Name to Ann"
    page.js(f"""(() => {{ const n = document.querySelector('{card(person)} .name'); n.value = ' Ann  ';
        document.querySelector('{card(person)} .rename button').click(); return 1; }})()""")
    page.wait("document.getElementById('status').textContent.startsWith('No change')")
    assert page.people(limit=1)["version"] == version + 1  # no version for the same name


def test_names_in_any_script_over_the_limit_refused_in_the_page_and_namesakes_warned(page):
    a, b, c = (p["id"] for p in page.people()["people"][:3])
    page.edit({"action": "rename", "identity": a, "name": "Ann Lee"})
    page.open(f"/review?show={SHOW}")
    version = page.version()
    page.focus(f"{card(c)} .name")
    too_long = "Wolfeschlegelsteinhausenbergerdorff " * 3  # 107 characters
    page.type(too_long)
    page.key("Enter")
    refused = page.wait("!document.getElementById('problem').hidden && "
                        "document.querySelector('#problem span').textContent")
    assert "at most 80 characters (this one has 107)" in refused, refused
    assert page.js(f"document.querySelector('{card(c)} .name').value") == too_long  # never cut silently
    assert page.js(f"document.querySelector('{card(c)} .name').getAttribute('aria-invalid')") == "true"
    assert page.people(limit=1)["version"] == version
    page.js(f"document.querySelector('{card(b)} .name').focus()")
    page.type("Zoe\u0308 Ann Lee")  # decomposed
    page.key("Enter")
    page.saved(version + 1)
    assert page.people(limit=500)["people"][1]["name"] == "Zoë Ann Lee"
    page.js(f"""(() => {{ const n = document.querySelector('{card(b)} .name'); n.value = 'ann  lee';
        document.querySelector('{card(b)} .rename button').click(); return 1; }})()""")
    page.saved(version + 2)
    warning = page.wait(f"!document.querySelector('{card(b)} .namesake').hidden && "
                        f"document.querySelector('{card(b)} .namesake').textContent")
    assert f"#{a}" in warning and "merge them if they are one person" in warning
    assert f"#{b}" in page.js(f"document.querySelector('{card(a)} .namesake').textContent")
    assert "share a name" in page.js("document.getElementById('status').textContent")
    page.browser.screenshot(page.shots / "review-namesakes.png")


def test_keys_split_leave_out_ignore_and_page(page):
    page.open(f"/review?show={SHOW}&per_page=5")
    total = page.people(limit=1)["total"]
    assert total > 10
    assert page.js("document.querySelector('.pager .range').textContent") == f"1–5 of {total} people"
    version = page.version()
    first = page.cards()[0]
    page.key("j")
    page.key("l")
    track = page.js("document.activeElement.dataset.track")
    page.key("s")
    page.saved(version + 1)
    assert page.people(limit=1)["reason"].startswith(f"split track {track} of {EP} to person ")
    page.wait(f"document.activeElement?.dataset.id === '{first}'")  # the focus stays on its card
    second = page.cards()[page.cards().index(first) + 1]
    page.key("j")
    assert page.js("document.activeElement.dataset.id") == str(second)
    page.key("l")
    track = page.js("document.activeElement.dataset.track")
    page.key("f")  # the chosen track: not a face
    page.saved(version + 2)
    assert page.people(limit=1)["reason"] == f"track {track} of {EP} marked not a face"
    page.js(f"document.querySelector('{card(second)}').focus()")
    page.key("i")  # no track chosen: the person
    page.saved(version + 3)
    assert page.people(limit=1)["reason"] == f"person {second} marked ignore"
    total = page.people(limit=1)["total"]  # one split out, one left out
    page.key("]")
    page.wait(f"document.querySelector('.pager .range').textContent === '6–10 of {total} people'")
    page.key("[")
    page.wait(f"document.querySelector('.pager .range').textContent === '1–5 of {total} people'")


def tracks_of(view: dict) -> dict[str, tuple[int, dict]]:
    """track key -> (whose it is, its view) over every person of a people view."""
    return {t["track"]: (p["id"], t) for p in view["people"] for t in p["tracks"]}


def test_split_inside_a_track_at_a_frame_by_keys_counts_both_pieces_and_undo_takes_it_back(page):
    """A track where the face changes: the reviewer picks, in its crops in time order, the first crop
    of the other face, splits the frames from there on to a new person (keys only), the recount
    counts each piece for its person to the frame, and undo takes the cut back."""
    before = page.people(tracks=500)
    owners = tracks_of(before)
    candidates = []
    for key, (owner, view) in owners.items():
        if view["excluded"]:
            continue
        found = httpx.get(f"{page.url}/shows/{SHOW}/episodes/{EP}/tracks/{key}/crops", timeout=30).json()
        cuttable = [c for c in found["crops"] if c["frame_index"] > found["first_frame"]]
        if len(cuttable) >= 2:
            candidates.append((len(cuttable), key, owner, found))
    assert candidates, "no track of the episode has crops to cut at"
    _, key, owner, found = max(candidates)
    assert [c["frame_index"] for c in found["crops"]] == sorted(c["frame_index"] for c in found["crops"])
    cuttable = [c for c in found["crops"] if c["frame_index"] > found["first_frame"]]
    at = len(cuttable) // 2
    frame = cuttable[at]["frame_index"]
    whole = owners[key][1]
    seconds_before = {p["id"]: p["seconds"] for p in before["people"]}

    page.open(f"/review?show={SHOW}&per_page=500&tracks_per_page=500")
    version = page.version()
    page.focus(f'{card(owner)} .track[data-track="{key}"]')
    page.key("c")
    page.wait(f"document.querySelectorAll('.cutter .cut-crop').length === {len(found['crops'])}")
    page.wait("document.activeElement?.classList.contains('cut-crop')")
    assert page.js("document.activeElement.dataset.frame") == str(cuttable[0]["frame_index"])
    for _ in range(at):
        page.key("ArrowRight")
    assert page.js("document.activeElement.dataset.frame") == str(frame)
    page.key("Enter")  # this crop is the first of the other face
    page.wait("document.activeElement?.classList.contains('cut-new')")
    assert f"frame {frame}" in page.js("document.querySelector('.cut-at').textContent")
    page.browser.screenshot(page.shots / "review-split-track.png")
    page.key("Enter")  # the frames from there on: a new person
    page.saved(version + 1)
    after = page.people(tracks=500)
    pieces = tracks_of(after)
    new_person, piece = pieces[f"{key}@{frame}"]
    assert after["reason"] == f"split track {key} of {EP} at frame {frame}: from there person {new_person}"
    first_owner, first = pieces[key]
    assert first_owner == owner and new_person not in seconds_before
    assert (first["first_frame"], first["last_frame"]) == (whole["first_frame"], frame - 1)
    assert (piece["first_frame"], piece["last_frame"]) == (frame, whole["last_frame"])
    assert piece["start_s"] == cuttable[at]["timestamp_s"]  # the piece starts at the chosen crop's moment
    assert piece["crops"] and all(c["frame_index"] >= frame for c in piece["crops"])
    assert all(c["frame_index"] < frame for c in first["crops"])
    assert first["seconds"] + piece["seconds"] == pytest.approx(whole["seconds"], abs=0.002)
    page.wait(f"document.querySelector('{card(new_person)} .track[data-track=\"{key}@{frame}\"]') !== null")

    update_show(page.storage, SHOW)  # the recount the people_edits sensor's run makes
    page.wait(f"document.body.dataset.numbers === '{version + 1}'")  # the page follows it live
    counted = {p["id"]: p for p in page.people()["people"]}
    assert counted[new_person]["seconds"] == pytest.approx(piece["seconds"], abs=0.002)  # to the frame
    assert counted[owner]["seconds"] == pytest.approx(seconds_before[owner] - piece["seconds"], abs=0.002)
    rows = httpx.get(f"{page.url}/shows/{SHOW}/screentime", timeout=30).json()
    assert rows["numbers_version"] == version + 1
    assert sum(r["seconds"] for r in rows["rows"] if r["identity_id"] == new_person) == \
        pytest.approx(piece["seconds"], abs=0.002)

    page.js("document.activeElement?.blur()")
    page.key("u")  # undo: the reviewer's own last edit
    page.saved(version + 2)
    undone = page.people(tracks=500)
    assert undone["reason"].startswith("undo: split track")
    back = tracks_of(undone)
    assert f"{key}@{frame}" not in back and back[key][0] == owner
    assert (back[key][1]["first_frame"], back[key][1]["last_frame"]) == (whole["first_frame"], whole["last_frame"])
    update_show(page.storage, SHOW)
    page.wait(f"document.body.dataset.numbers === '{version + 2}'")
    assert {p["id"]: p["seconds"] for p in page.people()["people"]}[owner] == \
        pytest.approx(seconds_before[owner], abs=0.002)

    # the same split by pointer, to a chosen person: "someone…" is the "Move to…" search
    other = next(p["id"] for p in undone["people"] if p["id"] != owner)
    row = f'{card(owner)} .track[data-track="{key}"]'
    page.focus(row)
    page.js(f"document.querySelector({json.dumps(row + ' .cut')}).click()")
    page.wait(f"document.querySelector('.cutter .cut-crop[data-frame=\"{frame}\"]') !== null")
    page.js(f"document.querySelector('.cutter .cut-crop[data-frame=\"{frame}\"]').click()")
    page.wait("document.activeElement?.classList.contains('cut-new')")
    page.js("document.querySelector('.cutter .cut-to').click()")
    page.wait("document.activeElement?.closest('.picker') !== null")
    assert f"frames from {frame} on" in page.js("document.querySelector('.picker input').placeholder")
    page.type(f"#{other}")
    page.key("Enter")
    page.saved(version + 3)
    assert tracks_of(page.people(tracks=500))[f"{key}@{frame}"][0] == other


# --- item 2: faces a reviewer can judge ---------------------------------------------------------------


def fully_shown_cards(page) -> int:
    return page.js("[...document.querySelectorAll('.person')].filter((c) => { const r = c.getBoundingClientRect(); "
                   "return r.top >= 0 && r.bottom <= innerHeight; }).length")


def test_compact_cards_put_eight_people_on_a_1366x768_screen_and_keep_every_control(page):
    page.viewport(1366, 768)
    page.open(f"/review?show={SHOW}")
    page.wait("document.querySelectorAll('.person .tile').length > 0 && "
              "[...document.querySelectorAll('.person img.tile')].every((i) => i.complete)")
    page.js("document.querySelector('.person').scrollIntoView({block: 'start'})")
    shown = fully_shown_cards(page)
    assert shown >= 8, shown  # before: ~440 px a card, two on a screen
    first = page.js("document.querySelector('.person').getBoundingClientRect().height")
    assert first <= 768 / 8, first
    # Every control of a card is still there, one line of figures, a face per track.
    one = page.people()["people"][0]
    controls = page.js(f"""(() => {{ const c = document.querySelector('{card(one['id'])}');
        return {{select: !!c.querySelector('.select'), name: !!c.querySelector('.name'),
                 reviewed: !!c.querySelector('.reviewed'), hide: c.querySelectorAll('.hide').length,
                 tiles: c.querySelectorAll('.track .tile').length,
                 actions: [...c.querySelectorAll('.track')].every((t) => t.querySelector('.split') &&
                     t.querySelector('.move') && t.querySelectorAll('.exclude').length === 2),
                 lines: Math.round(c.querySelector('.numbers').getBoundingClientRect().height /
                     parseFloat(getComputedStyle(c.querySelector('.numbers')).lineHeight))}}; }})()""")
    assert controls == {"select": True, "name": True, "reviewed": True, "hide": 2, "tiles": one["tracks_total"],
                        "actions": True, "lines": 1}, controls
    # A track's detail opens on its focus (l), with its faces, its figures and its buttons, and shuts after.
    page.focus(card(one["id"]))
    page.key("l")
    detail = page.js("(() => { const d = document.activeElement.querySelector('.track-detail'); "
                     "return [getComputedStyle(d).opacity, d.querySelectorAll('.strip img').length, "
                     "d.querySelector('.track-facts').textContent]; })()")
    assert detail[0] == "1" and detail[1] >= 1 and "track " in detail[2], detail
    inside = page.js("(() => { const d = document.activeElement.querySelector('.track-detail').getBoundingClientRect();"
                     " return d.left >= 0 && d.right <= innerWidth; })()")
    assert inside  # the detail opens towards the middle, never off the screen
    page.browser.screenshot(page.shots / "review-cards.png")


def test_a_larger_view_of_any_crop_shows_its_frame_its_moment_and_plays_the_episode_there(page):
    page.viewport(1366, 768)
    person = page.people()["people"][0]
    crop = person["tracks"][0]["crops"][0]
    assert crop["frame"] and crop["timestamp_s"] is not None and crop["box"]
    page.open(f"/review?show={SHOW}")
    tile = f"{card(person['id'])} .track .tile"
    page.wait(f"document.querySelector('{tile}').complete")
    page.mouse(tile)  # hover: the larger view opens, and goes with the pointer
    page.wait("!document.getElementById('zoom').hidden", 5)
    page.wait("document.getElementById('zoom').dataset.shows === 'frame' && "
              "document.querySelector('#zoom .zoom-pic img').complete && "
              "!document.querySelector('#zoom .zoom-box').hidden", 10)
    seen = page.js("""(() => { const z = document.getElementById('zoom'), img = z.querySelector('.zoom-pic img');
        const box = z.querySelector('.zoom-box').getBoundingClientRect(), pic = img.getBoundingClientRect();
        return {src: img.getAttribute('src'), natural: [img.naturalWidth, img.naturalHeight],
                box: [box.x - pic.x, box.y - pic.y, box.width, box.height], scale: pic.width / img.naturalWidth,
                what: z.querySelector('.zoom-what').textContent, context: z.querySelector('.zoom-context').textContent,
                link: z.querySelector('.zoom-link')?.getAttribute('href')}; })()""")
    assert seen["src"].endswith(f"/frames/{EP}/{crop['run_id']}/{crop['frame_index']}.jpg"), seen
    assert seen["natural"][0] > 200  # the whole frame, not the crop
    x1, y1, x2, y2 = crop["box"]
    expected = [x1 * seen["scale"], y1 * seen["scale"], (x2 - x1) * seen["scale"], (y2 - y1) * seen["scale"]]
    assert seen["box"] == pytest.approx(expected, abs=3)  # the face boxed where the detector found it
    minutes, rest = divmod(crop["timestamp_s"], 60)
    assert f"at {int(minutes)}:{rest:04.1f} (frame {crop['frame_index']})" in seen["what"], seen
    assert "whole frame" in seen["context"]
    assert seen["link"].endswith(f"/episodes/{EP}/video#t={crop['timestamp_s']:.1f}")
    page.mouse("")  # the pointer leaves: the view goes
    page.wait("document.getElementById('zoom').hidden", 5)
    # A click keeps it open; Play plays the episode's own video from that moment (real byte ranges).
    later = next(c for t in person["tracks"] for c in t["crops"] if c["timestamp_s"] > 1)
    page.js(f"""(() => {{ const img = [...document.querySelectorAll('{card(person['id'])} .strip img')]
        .find((i) => i.getAttribute('src').endsWith('/{later['track_id']}/{later['frame_index']}.jpg'));
        img.click(); return 1; }})()""")
    page.mouse("")
    page.sleep(0.6)
    assert not page.js("document.getElementById('zoom').hidden")  # pinned
    page.browser.screenshot(page.shots / "review-larger-view.png")
    page.js("document.querySelector('#zoom .zoom-video').click()")
    played = page.wait("""(() => { const v = document.querySelector('#zoom video');
        return v && v.readyState >= 1 && [v.currentTime, v.duration, v.getAttribute('src')]; })()""", 20)
    assert played[0] == pytest.approx(later["timestamp_s"], abs=0.1) and played[1] > 10, played
    assert played[2].endswith(f"/episodes/{EP}/video#t={later['timestamp_s']:.1f}")
    page.key("Escape")
    page.wait("document.getElementById('zoom').hidden && !document.querySelector('#zoom video')", 5)
    # The keyboard way: o on a focused track, Esc shuts it.
    page.focus(card(person["id"]))
    page.key("l")
    page.key("o")
    page.wait("!document.getElementById('zoom').hidden", 5)
    assert page.js("document.querySelector('#zoom .zoom-what').textContent").startswith(
        f"{person['label']} · track {person['tracks'][0]['track']} · ")


def test_without_saved_frames_the_larger_view_says_it_shows_the_crop_alone(page):
    run_id = load_registry(page.storage, SHOW).episodes[EP].run_id  # before the API reads (and keeps) the run
    key = EpisodeLayout(parse_episode_id(EP)).table_key(run_id, "frames")
    frames = table_from_parquet(page.storage.get_bytes(key))
    no_paths = frames.set_column(frames.schema.get_field_index("path"), "path",
                                 pa.nulls(frames.num_rows, pa.string()))
    page.storage.put_bytes(key, table_to_parquet(no_paths))  # as a run without --save-frames writes it
    person = page.people()["people"][0]
    assert not person["crop"]["frame"]
    page.open(f"/review?show={SHOW}")
    page.js(f"document.querySelector('{card(person['id'])} img.face').click()")
    page.wait("!document.getElementById('zoom').hidden && document.getElementById('zoom').dataset.shows === 'crop'")
    seen = page.js("[document.querySelector('#zoom .zoom-pic img').getAttribute('src'), "
                   "document.querySelector('#zoom .zoom-context').textContent]")
    assert "/crops/" in seen[0] and seen[1].startswith("The crop alone: this run saved no frames"), seen


def test_every_track_of_a_person_is_reachable_in_pages(page):
    everyone = [p["id"] for p in page.people()["people"]]
    page.edit({"action": "merge", "into": everyone[0], "identities": everyone[1:]})  # one lead with every track
    lead = page.people()["people"][0]
    every = httpx.get(f"{page.url}/shows/{SHOW}/people/{lead['id']}/tracks", params={"limit": 500}, timeout=30).json()
    assert lead["tracks_total"] == every["total"] == len(every["tracks"]) > 40
    page.open(f"/review?show={SHOW}&tracks_per_page=10")  # the card holds 10; the others come a page at a time
    assert page.js(f"document.querySelectorAll('{card(lead['id'])} .track').length") == 10
    assert page.js(f"document.querySelector('{card(lead['id'])} .tracks-range').textContent") == \
        f"tracks 1–10 of {every['total']}"
    page.focus(card(lead["id"]))
    seen = []
    for _ in range(every["total"]):  # l walks the strip, and on to the next page at its end
        page.key("l")
        page.wait(f"document.activeElement?.classList.contains('track') && "
                  f"!{json.dumps(seen)}.includes(document.activeElement.dataset.track)", 10)
        seen.append(page.js("document.activeElement.dataset.track"))
    assert seen == [t["track"] for t in every["tracks"]]  # every one, in order, none twice (before: 60 at most)
    last = (every["total"] - 1) // 10 * 10
    for _ in range(every["total"] - last + 2):  # and back over the page boundary with h
        page.key("h")
        page.sleep(0.1)
    page.wait(f"document.activeElement?.dataset.track === {json.dumps(every['tracks'][last - 3]['track'])}", 10)
    assert page.js(f"document.querySelector('{card(lead['id'])} .tracks-range').textContent").startswith(
        f"tracks {last - 9}–{last} ")
    page.js(f"document.querySelector('{card(lead['id'])} .tracks-prev').click()")  # the buttons page too
    page.wait(f"document.querySelector('{card(lead['id'])} .tracks-range').textContent.startsWith("
              f"'tracks {last - 19}–{last - 10} ')")
    # An edit keeps the card on its page of tracks.
    version = page.version()
    track = page.js(f"document.querySelector('{card(lead['id'])} .track').dataset.track")
    assert track == every["tracks"][last - 20]["track"]
    page.js(f"document.querySelector('{card(lead['id'])} .track .exclude').click()")
    page.saved(version + 1)
    page.wait(f"document.querySelector('{card(lead['id'])} .tracks-range').textContent.startsWith("
              f"'tracks {last - 19}–{last - 10} ')")


# --- item 3: the "reviewed" mark --------------------------------------------------------------------


def test_reviewed_mark_by_key_and_checkbox_and_the_not_reviewed_yet_filter(page):
    page.open(f"/review?show={SHOW}")
    page.js("document.getElementById('by').value = 'Ann'")
    a, b = page.cards()[:2]
    total = page.people(limit=1)["total"]
    version = page.version()
    page.key("j")
    page.key("r")
    page.saved(version + 1)
    view = page.people()
    assert view["reason"] == f"person {a} marked reviewed by Ann"
    assert next(p for p in view["people"] if p["id"] == a)["reviewed"] == "Ann"
    assert page.js(f"document.querySelector('{card(a)} .reviewed').checked")
    assert page.js("document.activeElement.dataset.id") == str(a)  # the focus stays for the next key
    page.js(f"document.querySelector('{card(b)} .reviewed').click()")
    page.saved(version + 2)
    page.js("document.getElementById('unreviewed').click()")
    page.wait(f"document.querySelector('.pager .range').textContent === '1–{total - 2} of {total - 2} people'")
    assert a not in page.cards() and b not in page.cards()
    page.js("document.getElementById('unreviewed').click()")
    page.wait(f"document.querySelector('{card(a)}') !== null")
    page.focus(card(a))
    page.key("r")  # takes the mark back
    page.saved(version + 3)
    assert page.people(limit=1)["reason"] == f"person {a} no longer marked reviewed"
    assert not page.js(f"document.querySelector('{card(a)} .reviewed').checked")


# --- item 1 on the review page: suggestions -----------------------------------------------------------


def test_the_page_links_the_suggestions_shows_each_cards_likeliest_matches_and_sorts_by_duplicates(split_page):
    page = split_page
    page.open(f"/review?show={SPLIT}")
    pairs = httpx.get(f"{page.url}/shows/{SPLIT}/suggestions", params={"limit": 1}, timeout=30).json()
    matches = httpx.get(f"{page.url}/shows/{SPLIT}/matches", params={"limit": 2}, timeout=30).json()["people"]
    assert pairs["total"] > 0 and matches
    link = page.wait("document.getElementById('suggestions-link').textContent.includes('suggestion') && "
                     "!document.getElementById('suggestions-link').textContent.endsWith('? suggestions') && "
                     "[document.getElementById('suggestions-link').getAttribute('href'), "
                     "document.getElementById('suggestions-link').textContent]")
    assert link[0].endswith(f"/suggestions?show={SPLIT}") and link[1] == f"Same person? {pairs['total']} suggestions"
    for person in matches:
        chips = page.js(f"[...document.querySelectorAll('{card(person['id'])} .likely-chip')].map((c) => "
                        "Number(c.dataset.id))")
        assert chips == [m["id"] for m in person["matches"]], (person, chips)
    one = matches[0]
    page.js(f"document.querySelector('{card(one['id'])} .likely-chip').click()")
    ticked = page.js("[...document.querySelectorAll('.person.selected')].map((c) => Number(c.dataset.id))")
    assert sorted(ticked) == sorted([one["id"], one["matches"][0]["id"]])
    assert page.js("document.getElementById('merge').textContent") == \
        f"Merge {one['matches'][0]['label']} into {one['label']}"  # one click, then m merges them
    # Sort: most likely duplicated first, beside by seconds.
    page.js("(() => { const s = document.getElementById('sort'); s.value = 'duplicated'; "
            "s.dispatchEvent(new Event('change')); return 1; })()")
    order = [p["id"] for p in matches]
    as_js = json.dumps(json.dumps(order, separators=(",", ":")))  # JSON.stringify's spelling, as a JS string
    page.wait(f"JSON.stringify([...document.querySelectorAll('.person')].slice(0, {len(order)})"
              f".map((c) => Number(c.dataset.id))) === {as_js}", 10)
    by_api = page.people(sort="duplicated")["people"]
    assert [p["id"] for p in by_api[:len(order)]] == order


def test_an_unchanged_show_is_loaded_once_so_a_chooser_opened_at_once_stays_open(page):
    """The versions the event stream says while the page first loads are the ones that load shows: no
    second load redraws the cards, and a split chooser opened at once with them, under a reviewer who
    starts at once (CI saw the chooser vanish so)."""
    person = page.people(limit=1)["people"][0]
    key = person["tracks"][0]["track"]
    page.open(f"/review?show={SHOW}")
    page.focus(f'{card(person["id"])} .track[data-track="{key}"]')
    page.key("c")
    page.wait("document.querySelectorAll('.cutter .cut-crop').length > 0")
    page.sleep(1.5)  # the event stream's first versions have come by now
    assert page.js("document.querySelectorAll('.cutter .cut-crop').length") > 0
    loads = page.js("performance.getEntriesByType('resource')"
                    ".filter((e) => new URL(e.name).pathname.endsWith('/people')).length")
    assert loads == 1
