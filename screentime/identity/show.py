"""People across a show: each episode's people linked to show-level identities.

An episode's people are matched to the show's existing identities by face (Hungarian assignment
on the cosine distance between a person's mean face vector and each identity's, so two people of
one episode never become one identity); a match needs a distance under the threshold, and the
people left over become new identities, numbered on from the last id in order of first
appearance. Ids are never renumbered or reused, so names given to them survive re-runs of the
episode (its old links are replaced by the new ones) and new episodes.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from scipy.optimize import linear_sum_assignment

from screentime.contracts.episode import parse_episode_id
from screentime.contracts.people import EpisodeLinks, EpisodePerson, Identity, PeopleRegistry
from screentime.identity.embedder import cosine_distance_matrix

SHOW_SCREENTIME_SCHEMA = pa.schema([
    ("identity_id", pa.int32()), ("name", pa.string()), ("ep_id", pa.string()), ("season", pa.int32()),
    ("episode", pa.int32()), ("person_id", pa.int32()), ("seconds", pa.float64()),
])


def identity_vectors(registry: PeopleRegistry) -> dict[int, np.ndarray]:
    """Each identity's mean face vector over its people in every episode linked so far (an
    episode being re-linked counts with its old links: its re-run finds its old identities)."""
    sums: dict[int, list[np.ndarray]] = {}
    for links in registry.episodes.values():
        for person in links.people:
            if person.embedding:
                sums.setdefault(person.identity, []).append(np.asarray(person.embedding, np.float32))
    return {ident: np.mean(vectors, axis=0) for ident, vectors in sums.items()}


def link_episode(registry: PeopleRegistry, ep_id: str, run_id: str, people: list[EpisodePerson],
                 threshold: float, people_sha256: str = "") -> PeopleRegistry:
    """A new registry (unsaved) with the episode's people linked; their `identity` fields are ignored."""
    updated = registry.model_copy(deep=True)
    people = sorted(people, key=lambda p: p.person_id)  # person ids follow first appearance
    known = identity_vectors(updated)
    ids = sorted(known)
    assigned: dict[int, int] = {}  # index in people -> identity
    with_vectors = [i for i, p in enumerate(people) if p.embedding]
    if ids and with_vectors:
        persons = np.array([people[i].embedding for i in with_vectors], np.float32)
        costs = cosine_distance_matrix(persons, np.array([known[i] for i in ids], np.float32))
        rows, cols = linear_sum_assignment(costs)
        for row, col in zip(rows, cols, strict=True):
            if costs[row, col] < threshold:
                assigned[with_vectors[row]] = ids[col]
    linked = []
    for index, person in enumerate(people):
        identity = assigned.get(index)
        if identity is None:
            identity = updated.next_id
            updated.identities[identity] = Identity(id=identity)
            updated.next_id += 1
        linked.append(person.model_copy(update={"identity": identity}))
    updated.episodes[ep_id] = EpisodeLinks(run_id=run_id, people_sha256=people_sha256, people=linked)
    return updated


def show_screentime(registry: PeopleRegistry) -> pa.Table:
    """identity × episode seconds for the whole show (hidden identities left out); a season's
    table is this one filtered on `season`."""
    rows = []
    for ep_id in sorted(registry.episodes):
        ep = parse_episode_id(ep_id)
        for person in registry.episodes[ep_id].people:
            identity = registry.identities.get(person.identity)
            if identity is None or identity.hidden:
                continue
            rows.append({"identity_id": identity.id, "name": identity.label, "ep_id": ep_id, "season": ep.season,
                         "episode": ep.episode, "person_id": person.person_id, "seconds": person.seconds})
    return pa.Table.from_pylist(rows, schema=SHOW_SCREENTIME_SCHEMA)
