"""The "same person?" suggestions on a real split show: the committed identity clip cut into two
episodes, each run through the real Dagster episode job, linked with a strict link distance
(tests/split_show.py), served by a real `screentime api` process. The people step keeps several
nearest others and who was seen together; the API ranks the split people's pairs first; "not the
same" is remembered (never suggested again) and is a cannot-link the grouping and the show linking
honour on real face vectors."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace

import dagster as dg
import httpx
import pyarrow.parquet as pq
import pytest

from screentime.contracts.edits import Rename
from screentime.identity.edits import Conflict, edit_people
from screentime.identity.embedders import CALIBRATIONS, DEFAULT_EMBEDDER, calibration
from screentime.identity.episode import episode_people, group_episode
from screentime.identity.not_same import InvalidPair, apart_tracks, record_not_same, track_owners
from screentime.identity.registry import load_registry
from screentime.identity.show import link_episode
from screentime.identity.show_rollup import update_show
from screentime.storage import LocalStorage
from tests.dagster_helpers import local_defs, run_episode_job
from tests.live_servers import start_api
from tests.split_show import EPISODES, SHOW, STRICT_LINK, cut_episodes, show_truth

TOKEN = "suggest-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
EP1 = next(iter(EPISODES))

pytestmark = pytest.mark.slow  # two real episode runs and an API: ~65 s on a 2-core machine


@pytest.fixture(scope="module")
def show(tmp_path_factory, identity_people):
    root = tmp_path_factory.mktemp("suggest")
    data = root / "data"
    videos = cut_episodes(identity_people, root / "videos")
    with dg.instance_for_test() as instance:
        defs = local_defs(data)
        for ep_id, video in videos.items():
            assert run_episode_job(defs, instance, ep_id, video).success
        storage = LocalStorage(data)
        update_show(storage, SHOW, link=STRICT_LINK)
        truth = show_truth(identity_people, data, load_registry(storage, SHOW))
        env = {"SCREENTIME_DATA_DIR": str(data), "STORAGE_BACKEND": "local", "SCREENTIME_API_TOKEN": TOKEN}
        api = start_api({**os.environ, **env}, root / "api.log")
        try:
            yield {"url": api.url, "storage": storage, "data": data, "truth": truth, "instance": instance,
                   "defs": defs}
        finally:
            api.stop()


def run_dir(show, ep_id: str):
    registry = load_registry(show["storage"], SHOW)
    return show["data"] / "artifacts/manifests" / SHOW / "s01" / ep_id[-3:] / registry.episodes[ep_id].run_id


def suggestions(show, **params) -> dict:
    response = httpx.get(f"{show['url']}/shows/{SHOW}/suggestions", params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def not_same(show, base_version: int, a: int, b: int, headers=AUTH) -> httpx.Response:
    return httpx.post(f"{show['url']}/shows/{SHOW}/suggestions/not-same", headers=headers, timeout=30,
                      json={"base_version": base_version, "by": "tester", "a": a, "b": b})


def test_the_people_step_keeps_several_nearest_others_and_who_was_seen_together(show):
    rows = pq.read_table(run_dir(show, EP1) / "people.parquet").to_pylist()
    people = {r["person_id"]: r for r in rows}
    assert len(people) >= 6
    for person, row in people.items():
        assert 1 <= len(row["nearest_people"]) <= 5 and len(row["nearest_distances"]) == len(row["nearest_people"])
        assert row["nearest_distances"] == sorted(row["nearest_distances"])
        assert row["nearest_people"][0] == row["nearest_person"]  # the old column: the first of the list
        assert row["nearest_distances"][0] == pytest.approx(row["nearest_distance"])
        assert person not in row["nearest_people"] and not set(row["seen_with"]) & set(row["nearest_people"])
    # the show step keeps each person's nearest people of the other episode
    across = pq.read_table(show["data"] / f"artifacts/people/{SHOW}/nearest.parquet").to_pylist()
    assert {r["ep_id"] for r in across} == set(EPISODES) and all(r["ep_id"] != r["other_ep_id"] for r in across)


def test_the_split_people_come_first_with_their_faces(show):
    registry = load_registry(show["storage"], SHOW)
    split = show["truth"].split(registry)
    needed = sum(len(ids) - 1 for ids in split.values())
    assert len(split) >= 4  # the strict link left most people split across the two episodes
    view = suggestions(show, limit=needed)
    assert view["version"] == registry.version and view["total"] >= needed
    person_of = show["truth"].person_of
    assert all(person_of[p["a"]["id"]] == person_of[p["b"]["id"]] for p in view["pairs"]), view["pairs"]
    first = view["pairs"][0]
    assert first["distance"] <= view["pairs"][-1]["distance"] and first["scope"] in ("episode", "show")
    assert 1 <= len(first["a"]["crops"]) <= 6 and first["a"]["seconds"] > 0
    crop = first["b"]["crops"][0]
    image = httpx.get(f"{show['url']}/crops/{crop['ep_id']}/{crop['run_id']}/{crop['track_id']}/"
                      f"{crop['frame_index']}.jpg", timeout=30)
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    within = suggestions(show, ep_id=EP1, limit=200)
    assert within["pairs"] and all(EP1 in p["episodes"] for p in within["pairs"])
    # each person's likeliest matches; the most likely duplicated first
    matches = httpx.get(f"{show['url']}/shows/{SHOW}/matches", timeout=30).json()
    distances = [p["distance"] for p in matches["people"]]
    assert distances == sorted(distances) and distances[0] == first["distance"]
    one = httpx.get(f"{show['url']}/shows/{SHOW}/matches", params={"identity": first["a"]["id"]}, timeout=30).json()
    assert [p["id"] for p in one["people"]] == [first["a"]["id"]] and one["people"][0]["matches"][0]["id"] == \
        first["b"]["id"]
    assert httpx.get(f"{show['url']}/shows/{SHOW}/suggestions", params={"ep_id": "other-s01e01"}).status_code == 404
    assert httpx.get(f"{show['url']}/shows/no-such-show/suggestions").status_code == 404
    assert httpx.get(f"{show['url']}/shows/{SHOW}/suggestions", params={"limit": 0}).status_code == 422


def test_not_the_same_is_remembered_versioned_and_refused_when_stale(show):
    registry = load_registry(show["storage"], SHOW)
    person_of = show["truth"].person_of
    wrong = next(p for p in suggestions(show, limit=200)["pairs"] if person_of[p["a"]["id"]] != person_of[p["b"]["id"]])
    a, b = wrong["a"]["id"], wrong["b"]["id"]
    assert not_same(show, registry.version, a, b, headers={}).status_code == 401
    assert not_same(show, registry.version, a, a).status_code == 422
    assert not_same(show, registry.version - 1, a, b).status_code == 409
    saved = not_same(show, registry.version, a, b)
    assert saved.status_code == 200, saved.text
    assert saved.json()["version"] == registry.version + 1 and "not the same person" in saved.json()["reason"]
    after = suggestions(show, limit=200)
    assert after["rejected"] == 1
    assert not any({p["a"]["id"], p["b"]["id"]} == {a, b} for p in after["pairs"])  # never suggested again
    matches = httpx.get(f"{show['url']}/shows/{SHOW}/matches", params={"identity": a}, timeout=30).json()
    assert b not in [m["id"] for p in matches["people"] for m in p["matches"]]
    assert not_same(show, after["version"], a, b).status_code == 422  # already said
    undone = httpx.post(f"{show['url']}/shows/{SHOW}/people/undo", headers=AUTH, timeout=30,
                        json={"base_version": after["version"], "by": "tester"})
    assert undone.status_code == 200, undone.text
    assert suggestions(show, limit=200)["rejected"] == 0  # undo takes it back like any edit


def people(show, **params) -> list[dict]:
    response = httpx.get(f"{show['url']}/shows/{SHOW}/people", params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["people"]


def test_people_sorted_most_likely_duplicated_first(show):
    """The review API's people in the order of their likeliest duplicate (the split people first)."""
    matches = httpx.get(f"{show['url']}/shows/{SHOW}/matches", timeout=10).json()["people"]
    assert matches
    ordered = [p["id"] for p in people(show, limit=500, sort="duplicated")]
    assert ordered[:len(matches)] == [p["id"] for p in matches]
    by_seconds = people(show, limit=500)
    assert set(ordered) == {p["id"] for p in by_seconds}  # the same people, in another order
    assert httpx.get(f"{show['url']}/shows/{SHOW}/people", params={"sort": "nope"}, timeout=10).status_code == 422


def closest_different_people(show) -> tuple[dict, int, int]:
    """The first episode's two different people (by the truth) whose faces are closest: a people
    row of one, and the two identities."""
    registry = load_registry(show["storage"], SHOW)
    people = pq.read_table(run_dir(show, EP1) / "people.parquet").to_pylist()
    identity_of = {p.person_id: p.identity for p in registry.episodes[EP1].people}
    person_of = show["truth"].person_of
    row = min((r for r in people if r["nearest_person"] >= 0 and
               person_of[identity_of[r["person_id"]]] != person_of[identity_of[r["nearest_person"]]]),
              key=lambda r: r["nearest_distance"])
    return row, identity_of[row["person_id"]], identity_of[row["nearest_person"]]


def test_a_stale_not_the_same_is_rebased_on_other_people_and_refused_on_people_changed_since(show, tmp_path):
    """"Not the same" is written by the rule of every edit: on an older version it is made again on
    the newest when neither person changed since; when one did, it is refused (409 in the API)."""
    shutil.copytree(show["data"] / "artifacts/people", tmp_path / "artifacts/people")  # a copy to write on
    storage = LocalStorage(tmp_path)
    base = load_registry(storage, SHOW)
    a, b, c, d = sorted(i for i, who in base.identities.items() if who.merged_into is None)[:4]
    renamed = edit_people(storage, SHOW, base.version, Rename(identity=c, name="Cy"), by="another tab")
    rebased = record_not_same(storage, SHOW, base.version, a, b, by="tester")  # on the page's older version
    assert rebased.version == renamed.version + 1 and rebased.not_same == [(a, b)]
    assert rebased.identities[c].name == "Cy"  # the other tab's edit is kept
    with pytest.raises(Conflict, match=f"person {c} changed since"):
        record_not_same(storage, SHOW, base.version, c, d, by="tester")
    assert load_registry(storage, SHOW).version == rebased.version  # nothing written
    with pytest.raises(Conflict, match=f"whether person {a} and person {b} are the same.* changed since"):
        record_not_same(storage, SHOW, base.version, a, b, by="tester")  # a second tab says it again, late
    with pytest.raises(InvalidPair, match="already recorded"):
        record_not_same(storage, SHOW, rebased.version, b, a, by="tester")
    assert record_not_same(storage, SHOW, rebased.version, c, d, by="tester").not_same == [(a, b), (c, d)]


def test_not_the_same_is_a_cannot_link_the_grouping_honours_on_real_faces(show, tmp_path):
    """Two different people of one episode, grouped again with a distance loose enough to merge
    everyone: without the reviewer's word they become one person, with it they never do."""
    storage = LocalStorage(tmp_path)  # a copy of the registry to write on, the show's tables to read
    registry = load_registry(show["storage"], SHOW)
    folder = run_dir(show, EP1)
    embeddings, detections = (pq.read_table(folder / f"{n}.parquet") for n in ("embeddings", "detections"))
    people = pq.read_table(folder / "people.parquet")
    links = registry.episodes[EP1]
    row, a, b = closest_different_people(show)
    tracks = {p.identity: set(p.tracks) for p in links.people}
    storage.put_text(f"artifacts/people/{SHOW}/registry.json", registry.model_dump_json())
    rejected = record_not_same(storage, SHOW, registry.version, a, b, by="tester")

    loose = replace(calibration(), group=0.95)

    def person_of_part(table):
        return {f"{r['track_id']}.{r['part']}": r["person_id"] for r in table.to_pylist()}

    merged = person_of_part(group_episode(embeddings, detections, loose))
    assert {merged[k] for k in tracks[a] | tracks[b]} == {merged[next(iter(tracks[a]))]}  # one person
    apart = apart_tracks(rejected, EP1, links.run_id)
    assert apart == [(tracks[min(a, b)], tracks[max(a, b)])]
    kept = group_episode(embeddings, detections, loose, apart=apart)
    honoured = person_of_part(kept)
    side_a, side_b = {honoured[k] for k in tracks[a]}, {honoured[k] for k in tracks[b]}
    assert not side_a & side_b
    for r in kept.to_pylist():  # and never each other's nearest: not a "same person?" candidate either
        if r["person_id"] in side_a:
            assert not side_b & set(r["nearest_people"])

    # The show linking: a re-linked person holding a's track parts whose face now says b is never b.
    screentime = pq.read_table(folder / "screentime.parquet")
    persons = episode_people(people, embeddings, screentime)
    p_a = next(p for p in persons if p.person_id == row["person_id"])
    p_b = next(p for p in persons if p.person_id == row["nearest_person"])
    looks_like_b = [p_a.model_copy(update={"embedding": p_b.embedding})]
    free = link_episode(registry, EP1, links.run_id, looks_like_b, calibration().link)
    assert free.episodes[EP1].people[0].identity == b  # by face alone: b
    bound = link_episode(rejected, EP1, links.run_id, looks_like_b, calibration().link)
    assert bound.episodes[EP1].people[0].identity != b


def test_a_rerun_of_the_people_step_in_dagster_keeps_a_rejected_pair_apart(show, monkeypatch):
    """The reviewer's word reaches the pipeline: `people` materialised again for the episode (the
    same analysis run) with a group distance that would merge everyone keeps the two apart, and
    the show linking that follows keeps them two identities."""
    storage = show["storage"]
    _, a, b = closest_different_people(show)
    registry = load_registry(storage, SHOW)
    tracks = {p.identity: set(p.tracks) for p in registry.episodes[EP1].people}
    record_not_same(storage, SHOW, registry.version, a, b, by="tester")
    monkeypatch.setitem(CALIBRATIONS, DEFAULT_EMBEDDER, replace(calibration(), group=0.95))
    defs = show["defs"]
    again = dg.materialize([*defs.assets], selection="people", instance=show["instance"], partition_key=EP1,
                           resources=defs.resources)
    assert again.success
    kept = again.asset_materializations_for_node("people")[0].metadata["kept_apart"].value
    assert kept == 1
    person = {f"{r['track_id']}.{r['part']}": r["person_id"]
              for r in pq.read_table(run_dir(show, EP1) / "people.parquet").to_pylist()}
    side_a, side_b = {person[k] for k in tracks[a]}, {person[k] for k in tracks[b]}
    assert not side_a & side_b
    update_show(storage, SHOW, link=STRICT_LINK)  # the show re-links the episode's new people
    relinked = load_registry(storage, SHOW)
    owners = track_owners(relinked, EP1)
    assert not {owners[k] for k in tracks[a]} & {owners[k] for k in tracks[b]}
