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
