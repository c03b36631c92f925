"""The review API on a real show: group_shots.mp4 run through the Dagster episode job, its people
linked by the show roll-up, served by a real `screentime api` process over HTTP. People by screen
time with their crops, edits with versions and a token, undo, downloads, and crop URLs that
cannot be turned into reads outside the artifact root."""

from __future__ import annotations

import io
import json
import os
import shutil
import unicodedata

import dagster as dg
import httpx
import pyarrow.parquet as pq
import pytest

from screentime.contracts.people import PeopleRegistry
from screentime.identity.registry import load_registry
from screentime.identity.show_rollup import update_show
from screentime.storage import LocalStorage
from tests.dagster_helpers import local_defs, run_episode_job
from tests.live_servers import start_api

SHOW, EP, TOKEN = "group", "group-s01e01", "review-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def show(tmp_path_factory, group_shots):
    """A show whose one episode ran through Dagster (crops saved) and whose people are linked."""
    root = tmp_path_factory.mktemp("review")
    data = root / "data"
    with dg.instance_for_test() as instance:
        assert run_episode_job(local_defs(data), instance, EP, group_shots, fps=4).success
    storage = LocalStorage(data)
    update_show(storage, SHOW)
    (data / "secret.jpg").write_bytes(b"not for the web")  # inside the data dir, outside artifacts/
    (root / "outside.jpg").write_bytes(b"not for the web either")
    env = {"SCREENTIME_DATA_DIR": str(data), "STORAGE_BACKEND": "local", "SCREENTIME_API_TOKEN": TOKEN}
    api = start_api({**os.environ, **env}, root / "api.log")
    try:
        yield {"url": api.url, "storage": storage, "data": data}
    finally:
        api.stop()


def people(show, **params) -> dict:
    response = httpx.get(f"{show['url']}/shows/{SHOW}/people", params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def edit(show, base_version: int, change: dict, token: dict = AUTH) -> httpx.Response:
    return httpx.post(f"{show['url']}/shows/{SHOW}/people/edits", headers=token, timeout=30,
                      json={"base_version": base_version, "by": "tester", "edit": change})


def crop_url(show, crop: dict) -> str:
    return f"{show['url']}/crops/{crop['ep_id']}/{crop['run_id']}/{crop['track_id']}/{crop['frame_index']}.jpg"


def test_people_come_by_screen_time_with_their_crops(show):
    view = people(show, limit=500)
    registry = load_registry(show["storage"], SHOW)
    table = pq.read_table(show["data"] / f"artifacts/people/{SHOW}/screentime.parquet").to_pylist()
    assert view["version"] == view["numbers_version"] == registry.version
    assert view["total"] == len(table) >= 5  # every counted identity of the clip is a card
    seconds = [p["seconds"] for p in view["people"]]
    assert seconds == sorted(seconds, reverse=True)
    assert {p["id"]: p["seconds"] for p in view["people"]} == pytest.approx(
        {r["identity_id"]: r["seconds"] for r in table})
    first = view["people"][0]
    assert first["label"] == f"person {first['id']}" and first["tracks"] and first["crop"]
    assert sum(t["seconds"] for t in first["tracks"]) >= first["seconds"] - 1e-6  # parts may overlap in time
    image = httpx.get(crop_url(show, first["crop"]), timeout=10)
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert image.content[:2] == b"\xff\xd8" and "immutable" in image.headers["cache-control"]
    page = people(show, limit=2, offset=2)
    assert [p["id"] for p in page["people"]] == [p["id"] for p in view["people"][2:4]]
    assert page["total"] == view["total"] and page["offset"] == 2
    one = people(show, ep_id=EP, q=f"person {first['id']}")
    assert first["id"] in [p["id"] for p in one["people"]]
    assert people(show, named="named")["total"] == 0


def test_crop_urls_never_read_outside_the_artifact_root(show):
    base = show["url"]
    for path in ("/crops/..%2F..%2Fsecret.jpg", "/crops/group-s01e01/..%2F..%2F..%2F/1/1.jpg",
                 "/crops/group-s01e01/..%2F..%2F..%2F..%2Fsecret/1/1.jpg", "/crops/..%2Fgroup-s01e01/r/1/1.jpg",
                 "/crops/group-s01e01/r/-1/1.jpg", "/crops/group-s01e01/r/1/1.png",
                 "/crops/%2e%2e/%2e%2e/1/1.jpg", "/crops/group-s01e01/%2e%2e/1/1.jpg",
                 "/crops/group-s01e01/r/..%2F..%2F..%2F..%2F..%2Foutside/1.jpg"):
        response = httpx.get(base + path, timeout=10)
        assert response.status_code in (404, 422), path
        assert b"not for the web" not in response.content, path
    missing = httpx.get(f"{base}/crops/{EP}/no-such-run/1/1.jpg", timeout=10)
    assert missing.status_code == 404 and "no crop of track 1" in missing.json()["detail"]


def test_edits_are_versioned_checked_and_need_the_token(show):
    view = people(show, limit=500)
    version = view["version"]
    a, b, c = (p["id"] for p in view["people"][:3])
    assert edit(show, version, {"action": "rename", "identity": a, "name": "Ann"}, token={}).status_code == 401
    renamed = edit(show, version, {"action": "rename", "identity": a, "name": "  Ann   Lee "})
    assert renamed.status_code == 200 and renamed.json()["version"] == version + 1
    assert renamed.json()["reason"] == f"renamed person {a} to Ann Lee" and renamed.json()["updated_by"] == "tester"
    stale = edit(show, version, {"action": "rename", "identity": a, "name": "Bea"})  # a second tab, not reloaded
    assert stale.status_code == 409
    assert f"changed since version {version} (now version {version + 1}, by tester" in stale.json()["detail"]
    for bad, message in (({"action": "rename", "identity": b, "name": "<script>"}, "a name may hold"),
                         ({"action": "rename", "identity": 99999, "name": "Bea"}, "has no person 99999"),
                         ({"action": "merge", "into": a, "identities": [a]}, "into itself"),
                         ({"action": "move", "ep_id": "other-s01e01", "track": "1.0"}, "is not an episode"),
                         ({"action": "move", "ep_id": EP, "track": "../1"}, "track_id.part"),
                         ({"action": "delete", "identity": a}, "action")):
        response = edit(show, version + 1, bad)
        assert response.status_code == 422 and message in response.json()["detail"], (bad, response.text)
    merged = edit(show, version + 1, {"action": "merge", "into": a, "identities": [b]})
    assert merged.status_code == 200, merged.text
    after = people(show, limit=500)
    assert b not in [p["id"] for p in after["people"]] and after["numbers_version"] == version  # not recounted
    ann = next(p for p in after["people"] if p["id"] == a)
    assert ann["name"] == "Ann Lee" and {t["track"] for t in ann["tracks"]} >= {
        t["track"] for t in view["people"][1]["tracks"]}
    track = next(p for p in view["people"] if p["id"] == c)["tracks"][0]
    split = edit(show, version + 2, {"action": "move", "ep_id": EP, "track": track["track"], "to": None, "name": "Cy"})
    assert split.status_code == 200 and split.json()["reason"].startswith(f"split track {track['track']}")
    cy = next(p for p in people(show, q="Cy")["people"])
    assert cy["seconds"] is None and [t["track"] for t in cy["tracks"]] == [track["track"]]  # counted by the next run
    undo = httpx.post(f"{show['url']}/shows/{SHOW}/people/undo", headers=AUTH, timeout=30,
                      json={"base_version": version + 3, "by": "tester"})
    assert undo.status_code == 200 and undo.json()["reason"] == f"undo: {split.json()['reason']}"
    assert people(show, q="Cy")["total"] == 0
    update_show(show["storage"], SHOW)  # what the people_edits sensor's run does: recount
    counted = people(show, limit=500)
    assert counted["numbers_version"] == counted["version"] == version + 4
    assert next(p for p in counted["people"] if p["id"] == a)["seconds"] >= view["people"][0]["seconds"]


def test_screentime_and_its_downloads(show):
    view = httpx.get(f"{show['url']}/shows/{SHOW}/screentime", timeout=30).json()
    table = pq.read_table(show["data"] / f"artifacts/people/{SHOW}/screentime.parquet")
    assert view["episodes"] == [EP] and len(view["rows"]) == table.num_rows
    assert sorted(r["seconds"] for r in view["rows"]) == pytest.approx(sorted(table["seconds"].to_pylist()))
    csv = httpx.get(f"{show['url']}/shows/{SHOW}/screentime.csv", params={"season": 1}, timeout=30)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert 'filename="group-s01-screentime.csv"' in csv.headers["content-disposition"]
    lines = csv.text.splitlines()
    assert lines[0] == "identity_id,name,named,ep_id,season,episode,seconds,appearances,registry_version"
    assert len(lines) == table.num_rows + 1
    counted = str(view["numbers_version"])  # a CSV says which registry version it counts (before: nothing did)
    assert {line.rsplit(",", 1)[1] for line in lines[1:]} == {counted}
    assert csv.headers["x-screentime-registry-version"] == counted
    parquet = httpx.get(f"{show['url']}/shows/{SHOW}/screentime.parquet", params={"ep_id": EP}, timeout=30)
    assert pq.read_table(io.BytesIO(parquet.content)).equals(table)
    assert httpx.get(f"{show['url']}/shows/{SHOW}/screentime", params={"season": 2}, timeout=30).json()["rows"] == []
    wrong = httpx.get(f"{show['url']}/shows/{SHOW}/screentime", params={"ep_id": "other-s01e01"}, timeout=30)
    assert wrong.status_code == 404 and "not an episode of group" in wrong.json()["detail"]


def test_unknown_and_invalid_shows(show):
    missing = httpx.get(f"{show['url']}/shows/nobody/people", timeout=10)
    assert missing.status_code == 404 and "no people recorded for show 'nobody'" in missing.json()["detail"]
    assert httpx.get(f"{show['url']}/shows/Bad_Show/people", timeout=10).status_code == 422
    for page in ("/review?show=group", "/screentime?show=group"):
        html = httpx.get(show["url"] + page, timeout=10)
        assert html.status_code == 200 and "/static/people.js" in html.text


def test_an_edit_that_changes_nothing_writes_no_version(show):
    view = people(show, limit=500)
    version, person = view["version"], view["people"][-1]
    named = edit(show, version, {"action": "rename", "identity": person["id"], "name": "Dee"})
    assert named.status_code == 200 and named.json()["version"] == version + 1
    for same in ({"action": "rename", "identity": person["id"], "name": "  Dee "},  # the same name
                 {"action": "hide", "identity": person["id"], "reason": None},  # shown already
                 {"action": "move", "ep_id": EP, "track": person["tracks"][0]["track"], "to": person["id"]}):
        again = edit(show, version + 1, same)
        assert again.status_code == 200 and again.json()["version"] == version + 1, (same, again.text)  # before: +1
    assert load_registry(show["storage"], SHOW).version == version + 1
    undo = httpx.post(f"{show['url']}/shows/{SHOW}/people/undo", headers=AUTH, timeout=30,
                      json={"base_version": version + 1, "by": "tester"})
    assert undo.json()["reason"] == f"undo: renamed person {person['id']} to Dee"  # the real edit, not a no-op


@pytest.mark.parametrize("name", ["Zoe\u0308 Kravitz", "नमस्ते जी", "สมชาย ใจดี", "Panic! at the Disco",
                                  "Ma·ria", '"Weird Al" Yankovic', "Dr. O’Neil-Smith, Jr. (II) & Co"])
def test_names_in_any_script_with_the_punctuation_names_use(show, name):
    view = people(show, limit=500)
    person = view["people"][-2]
    saved = edit(show, view["version"], {"action": "rename", "identity": person["id"], "name": name})
    assert saved.status_code == 200, saved.text  # before: 422 for all but the last
    stored = load_registry(show["storage"], SHOW).identities[person["id"]].name
    assert stored == unicodedata.normalize("NFC", name)
    assert [p["id"] for p in people(show, q=name.split()[0])["people"]] == [person["id"]]  # found, as typed


@pytest.mark.parametrize(("name", "message"), [
    ("<b onclick=x>Ann", "not '<' '=' '>'"), ("Ann=1", "not '='"), ("a_b", "not '_'"),
    ("x" * 81, "at most 80 characters (this one has 81)"), ("\u0308a", "combining mark")])
def test_markup_and_over_long_names_are_refused_never_cut(show, name, message):
    view = people(show, limit=500)
    refused = edit(show, view["version"], {"action": "rename", "identity": view["people"][0]["id"], "name": name})
    assert refused.status_code == 422 and message in refused.json()["detail"], refused.text


# --- issue 22, item 2: the larger view's media, every track, the "reviewed" mark, the sort ---------------


def test_crops_carry_their_moment_box_and_whether_the_frame_was_saved(show, group_shots):
    view = people(show, limit=500)
    crops = [c for p in view["people"] for t in p["tracks"] for c in t["crops"]]
    assert crops and all(c["timestamp_s"] is not None and len(c["box"]) == 4 for c in crops)
    assert not any(c["frame"] for c in crops)  # this run saved no frames: the page says "the crop alone"
    first = crops[0]
    frame = httpx.get(f"{show['url']}/frames/{EP}/{first['run_id']}/{first['frame_index']}.jpg", timeout=10)
    assert frame.status_code == 404 and "save_frames" in frame.json()["detail"]
    assert view["videos"] == {EP: "file"}  # its source is a local file the API can serve


def test_the_video_route_serves_the_episodes_own_video_in_byte_ranges_without_a_token(show, group_shots):
    url = f"{show['url']}/episodes/{EP}/video"
    whole = group_shots.read_bytes()
    head = httpx.head(url, timeout=10)  # a read route, like the crops: no token, though the API has one
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(whole)
    assert head.headers["accept-ranges"] == "bytes" and head.headers["content-type"] == "video/mp4"
    for asked, start, end in (("bytes=0-99", 0, 99), ("bytes=1000000-1000999", 1000000, 1000999),
                              (f"bytes={len(whole) - 10}-", len(whole) - 10, len(whole) - 1)):
        part = httpx.get(url, headers={"Range": asked}, timeout=10)  # what a <video> asks to seek
        assert part.status_code == 206, (asked, part.status_code)
        assert part.headers["content-range"] == f"bytes {start}-{end}/{len(whole)}"
        assert part.content == whole[start:end + 1]
    beyond = httpx.get(url, headers={"Range": f"bytes={len(whole) + 10}-"}, timeout=10)
    assert beyond.status_code == 416


def test_the_video_route_opens_only_an_episodes_own_source_video(show, tmp_path):
    def publish(ep_id: str, source: str) -> None:  # another episode's manifest, naming some path as its source
        manifest = (show["data"] / "artifacts/manifests/group/s01/e01/manifest.json").read_text()
        data = json.loads(manifest)
        data["ep_id"], data["source"]["path"] = ep_id, source
        target = show["data"] / f"artifacts/manifests/group/s01/e{ep_id[-2:]}/manifest.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(data))

    secret = show["data"] / "secret.jpg"
    publish("group-s01e07", str(secret))  # a file that is not a video
    publish("group-s01e08", str(tmp_path / "gone.mp4"))  # a video that is not there
    try:
        for ep_id in ("group-s01e07", "group-s01e08", "group-s01e09"):  # e09: no manifest at all
            refused = httpx.get(f"{show['url']}/episodes/{ep_id}/video", timeout=10)
            assert refused.status_code == 404, (ep_id, refused.text)
            assert b"not for the web" not in refused.content
    finally:
        for ep in ("07", "08"):
            shutil.rmtree(show["data"] / f"artifacts/manifests/group/s01/e{ep}")
    for climb in ("..%2F..%2Fsecret.jpg", "group-s01e01%2F..%2F..", "group-s01e01.."):
        refused = httpx.get(f"{show['url']}/episodes/{climb}/video", timeout=10)
        assert refused.status_code in (404, 422) and b"not for the web" not in refused.content, climb


def test_every_track_of_a_person_comes_a_page_at_a_time(show):
    view = people(show, limit=500, tracks=1)
    lead = max(view["people"], key=lambda p: p["tracks_total"])
    assert len(lead["tracks"]) == 1 < lead["tracks_total"]  # the card's first page only
    url = f"{show['url']}/shows/{SHOW}/people/{lead['id']}/tracks"
    every = httpx.get(url, params={"limit": 500}, timeout=10).json()
    assert every["total"] == lead["tracks_total"] == len(every["tracks"])
    pages = [httpx.get(url, params={"offset": at, "limit": 2}, timeout=10).json()["tracks"]
             for at in range(0, every["total"], 2)]
    assert [t["track"] for page in pages for t in page] == [t["track"] for t in every["tracks"]]
    assert httpx.get(f"{show['url']}/shows/{SHOW}/people/99999/tracks", timeout=10).status_code == 404
    assert httpx.get(url, params={"ep_id": "other-s01e01"}, timeout=10).status_code == 404


def test_the_reviewed_mark_is_an_edit_with_a_filter_and_old_registries_load(show):
    view = people(show, limit=500)
    person = view["people"][0]
    saved = edit(show, view["version"], {"action": "reviewed", "identity": person["id"], "reviewer": " Ann  Lee "})
    assert saved.status_code == 200 and saved.json()["reason"] == f"{person['label']} marked reviewed by Ann Lee"
    after = people(show, limit=500)
    assert next(p for p in after["people"] if p["id"] == person["id"])["reviewed"] == "Ann Lee"
    assert person["id"] not in [p["id"] for p in people(show, limit=500, reviewed="false")["people"]]
    assert [p["id"] for p in people(show, limit=500, reviewed="true")["people"]] == [person["id"]]
    assert edit(show, after["version"], {"action": "reviewed", "identity": person["id"],
                                         "reviewer": "Ann Lee"}).json()["version"] == after["version"]  # no-op
    assert edit(show, after["version"], {"action": "reviewed", "identity": person["id"], "reviewer": "<b>"}
                ).status_code == 422
    back = edit(show, after["version"], {"action": "reviewed", "identity": person["id"], "reviewer": None})
    assert back.json()["reason"] == f"{person['label']} no longer marked reviewed"
    old = json.loads((show["data"] / f"artifacts/people/{SHOW}/registry.json").read_text())
    for who in old["identities"].values():
        who.pop("reviewed", None)  # a registry written before the mark existed
    assert PeopleRegistry.model_validate(old).identities[person["id"]].reviewed is None
