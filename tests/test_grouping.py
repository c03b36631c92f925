"""Grouping track parts into people (screentime.identity.people) and linking an episode's people to
a show across an embedder change (screentime.identity.show). Pure functions on vectors: what is
checked is the clustering's rules, so the vectors are made to sit where each rule matters."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import adjusted_rand_score

from screentime.contracts.people import Identity, PeopleRegistry
from screentime.identity.embedder import cosine_distance_matrix
from screentime.identity.people import group_people
from screentime.identity.show import link_episode


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


@pytest.mark.parametrize("linkage", ["average", "complete"])
def test_without_constraints_it_is_scikit_learns_agglomerative_clustering(linkage):
    vectors = np.random.default_rng(3).normal(size=(120, 12))
    ours = group_people(vectors, np.zeros((120, 120), bool), 0.7, linkage=linkage)
    distances = cosine_distance_matrix(vectors, vectors).astype(np.float64)
    distances = (distances + distances.T) / 2
    np.fill_diagonal(distances, 0)
    theirs = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage=linkage,
                                     distance_threshold=0.7).fit_predict(distances)
    assert adjusted_rand_score(ours, theirs) == 1.0


def test_parts_on_screen_together_never_share_a_person_even_when_averaging_would_merge_them():
    # ten parts all close to one another, two of them on screen together: averaging would dilute
    # their pair's "never" into a small mean; here they end up in two people whatever the order
    rng = np.random.default_rng(0)
    centre = _unit(rng.normal(size=32))
    bunch = _unit(centre + 0.05 * rng.normal(size=(9, 32)))
    other = _unit(centre + 0.06 * rng.normal(size=32))
    vectors = np.vstack([bunch, other])
    together = np.zeros((10, 10), bool)
    together[0, 9] = together[9, 0] = True
    labels = group_people(vectors, together, threshold=0.5)
    assert labels[9] != labels[0] and len(set(labels.tolist())) == 2
    free = group_people(vectors, np.zeros((10, 10), bool), threshold=0.5)
    assert len(set(free.tolist())) == 1  # without the rule, they would be one person


def test_empty_and_single_inputs():
    assert group_people(np.zeros((0, 8)), np.zeros((0, 0), bool), 0.4).shape == (0,)
    assert group_people(np.ones((1, 8)), np.zeros((1, 1), bool), 0.4).tolist() == [0]
    with pytest.raises(ValueError, match="unknown linkage"):
        group_people(np.eye(3), np.zeros((3, 3), bool), 0.4, linkage="single")


def test_a_rerun_with_another_embedder_keeps_each_identity_and_its_name():
    """After the embedder changes, an episode's new 1024-d vectors cannot be compared with the old
    128-d ones: the re-run of the same analysis run keeps identities by their tracks."""
    from screentime.contracts.people import EpisodePerson

    rng = np.random.default_rng(1)
    old = [EpisodePerson(person_id=1, identity=0, embedding=_unit(rng.normal(size=128)).tolist(),
                         tracks=["1.0", "3.0"]),
           EpisodePerson(person_id=2, identity=0, embedding=_unit(rng.normal(size=128)).tolist(), tracks=["2.0"])]
    registry = link_episode(PeopleRegistry(show="demo"), "demo-s01e01", "run1", old, 0.4)
    registry.identities[2] = Identity(id=2, name="Penny")
    new = [EpisodePerson(person_id=1, identity=0, embedding=_unit(rng.normal(size=1024)).tolist(), tracks=["2.0"]),
           EpisodePerson(person_id=2, identity=0, embedding=_unit(rng.normal(size=1024)).tolist(),
                         tracks=["1.0", "3.0"])]
    relinked = link_episode(registry, "demo-s01e01", "run1", new, 0.4)
    identity_of = {p.person_id: p.identity for p in relinked.episodes["demo-s01e01"].people}
    assert identity_of == {1: 2, 2: 1} and relinked.identities[2].name == "Penny"
    assert relinked.next_id == 3  # nobody new
    # another analysis run's tracks are other tracks: no carrying over by track numbers there
    other_run = link_episode(registry, "demo-s01e01", "run2", new, 0.4)
    assert {p.identity for p in other_run.episodes["demo-s01e01"].people} == {3, 4}


def _tables(vectors: np.ndarray, frames: list[list[int]]):
    """embeddings and detections tables for parts with these vectors, seen in these frames (40 px faces)."""
    import pyarrow as pa

    from screentime.contracts.tables import DETECTIONS_SCHEMA, EMBEDDINGS_SCHEMA

    parts = [{"track_id": i + 1, "part": 0, "first_frame": min(f), "last_frame": max(f), "shot": 0, "samples": 3,
              "embedding": v.astype(np.float32).tolist(), "quality": 12.0}
             for i, (v, f) in enumerate(zip(vectors, frames, strict=True))]
    dets = [{"frame_index": frame, "timestamp_s": frame / 10, "track_id": i + 1, "x1": 0.0, "y1": 0.0, "x2": 40.0,
             "y2": 40.0, "score": 0.9, "landmarks": [0.0] * 10} for i, f in enumerate(frames) for frame in f]
    return pa.Table.from_pylist(parts, schema=EMBEDDINGS_SCHEMA), pa.Table.from_pylist(dets, schema=DETECTIONS_SCHEMA)


def test_each_person_keeps_up_to_five_nearest_others_never_one_seen_with_them():
    from screentime.identity.episode import group_episode

    rng = np.random.default_rng(5)
    vectors = _unit(rng.normal(size=(8, 32)))  # eight different people
    frames = [[10 * i, 10 * i + 1] for i in range(8)]
    frames[1] = [0, 1]  # part 2 is on screen with part 1
    people = group_episode(*_tables(vectors, frames)).to_pylist()
    assert len({r["person_id"] for r in people}) == 8
    by_track = {r["track_id"]: r for r in people}
    one, two = by_track[1], by_track[2]
    assert one["seen_with"] == [two["person_id"]] and two["seen_with"] == [one["person_id"]]
    for row in people:
        assert len(row["nearest_people"]) == 5 and row["nearest_distances"] == sorted(row["nearest_distances"])
        assert row["nearest_person"] == row["nearest_people"][0] and row["person_id"] not in row["nearest_people"]
    assert two["person_id"] not in one["nearest_people"]
    distances = cosine_distance_matrix(vectors, vectors)
    expected = [int(j) + 1 for j in np.argsort(distances[2]) if j != 2][:5]  # track 3's nearest tracks
    assert [next(r["track_id"] for r in people if r["person_id"] == p) for p in by_track[3]["nearest_people"]] \
        == expected


def test_a_people_table_from_before_the_lists_still_reads():
    import pyarrow as pa

    from screentime.identity.suggestions import episode_neighbours

    old = pa.table({"track_id": [1, 2, 3], "part": [0, 0, 0], "person_id": [1, 2, 2],
                    "nearest_person": [2, 1, 1], "nearest_distance": [0.5, 0.5, 0.5]})
    found = episode_neighbours(old)
    assert found.nearest == {1: [(2, 0.5)], 2: [(1, 0.5)]} and found.seen_with == {1: set(), 2: set()}


def test_parts_a_reviewer_kept_apart_are_never_grouped_and_a_relink_never_joins_them():
    from screentime.contracts.people import EpisodePerson
    from screentime.identity.episode import group_episode
    from screentime.identity.not_same import apart_tracks, reject_pair

    rng = np.random.default_rng(7)
    centre = _unit(rng.normal(size=32))
    vectors = _unit(centre + 0.05 * rng.normal(size=(4, 32)))  # four parts of what looks like one face
    frames = [[0], [10], [20], [30]]
    together = {r["track_id"]: r["person_id"] for r in group_episode(*_tables(vectors, frames)).to_pylist()}
    assert len(set(together.values())) == 1
    people = [EpisodePerson(person_id=1, identity=0, embedding=_unit(vectors[:2].mean(0)).tolist(),
                            tracks=["1.0", "2.0"]),
              EpisodePerson(person_id=2, identity=0, embedding=_unit(vectors[2:].mean(0)).tolist(),
                            tracks=["3.0", "4.0"])]
    registry = link_episode(PeopleRegistry(show="demo"), "demo-s01e01", "run1", people, 0.0)  # two identities
    registry, reason = reject_pair(registry, 1, 2)
    assert "not the same person" in reason
    apart = apart_tracks(registry, "demo-s01e01", "run1")
    assert apart_tracks(registry, "demo-s01e01", "run2") == []  # another analysis: other tracks
    assert apart == [({"1.0", "2.0"}, {"3.0", "4.0"})]
    kept = {r["track_id"]: r["person_id"] for r in group_episode(*_tables(vectors, frames), apart=apart).to_pylist()}
    assert kept[1] == kept[2] != kept[3] == kept[4]
    # re-linked at a distance that would join anything: person 2 is never identity 1, and the
    # other way round, even where its tracks are offered with identity 1's face
    swapped = [people[0].model_copy(update={"tracks": ["3.0", "4.0"]}),
               people[1].model_copy(update={"tracks": ["1.0", "2.0"]})]
    relinked = link_episode(registry, "demo-s01e01", "run1", swapped, 2.0)
    identity = {tuple(p.tracks): p.identity for p in relinked.episodes["demo-s01e01"].people}
    assert identity == {("3.0", "4.0"): 2, ("1.0", "2.0"): 1}
    free = link_episode(registry.model_copy(update={"not_same": []}), "demo-s01e01", "run1", swapped, 2.0)
    assert {tuple(p.tracks): p.identity for p in free.episodes["demo-s01e01"].people} == \
        {("3.0", "4.0"): 1, ("1.0", "2.0"): 2}  # by face alone, swapped
