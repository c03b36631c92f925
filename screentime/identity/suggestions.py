"""The "same person?" suggestions: pairs of a show's people that the face distance says may be one.

The evidence is what the people steps stored: each episode person's nearest other people of the
episode (people.parquet `nearest_people`, `nearest_distances`, the grouping's average-linkage
distance) and of the show's other episodes (the show step's nearest.parquet, mean face vectors).
Each is mapped to the identities those people count as now (registry merges followed), so a pair
of identities gets the smallest distance between any of their people. A pair is never suggested
when the two were on screen in the same frame (people.parquet `seen_with`), when a reviewer said
they are not the same (screentime.identity.not_same), or when either is left out (hidden).

Tables written before these columns existed still read: an old people.parquet gives its single
`nearest_person` and no `seen_with`; a show without nearest.parquet gets it computed from the
registry's face vectors, as the show step would.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import pyarrow as pa

from screentime.contracts.episode import parse_episode_id
from screentime.contracts.layout import EpisodeLayout
from screentime.contracts.people import PeopleRegistry
from screentime.identity.embedders import calibration
from screentime.identity.not_same import not_same_pairs
from screentime.identity.show import nearest_key, show_nearest
from screentime.storage.base import Storage
from screentime.storage.parquet import table_from_parquet

# Pairs farther apart than this are not suggested: 1.5 x the group distance, about the median
# distance between different people's faces (0.13 for dlib's vectors, median 0.13 on the test
# clips' tracks, bench/bench_embeddings.py; 0.63 for FaceRes's, median 0.64).
SUGGEST_FACTOR = 1.5
CACHED_RUNS = 512


def suggest_distance() -> float:
    calibrated = calibration()
    return SUGGEST_FACTOR * max(calibrated.group, calibrated.link)


@dataclass
class EpisodeNeighbours:
    """One analysis run's people: each one's nearest others in the episode, and who they were seen with."""

    nearest: dict[int, list[tuple[int, float]]] = field(default_factory=dict)
    seen_with: dict[int, set[int]] = field(default_factory=dict)


def episode_neighbours(people: pa.Table) -> EpisodeNeighbours:
    """From people.parquet (one row per track part; a person's lists are on each of their rows)."""
    names = set(people.column_names)
    out = EpisodeNeighbours()
    for row in people.to_pylist():
        person = row["person_id"]
        if person in out.nearest:
            continue
        single = row.get("nearest_person")
        if "nearest_people" in names and row["nearest_people"] is not None:
            pairs = list(zip(row["nearest_people"], row["nearest_distances"], strict=True))
        elif single is not None and single >= 0:
            pairs = [(single, row["nearest_distance"])]  # a table from before the lists
        else:
            pairs = []
        out.nearest[person] = [(int(p), float(d)) for p, d in pairs if d is not None and math.isfinite(d)]
        out.seen_with[person] = set(row.get("seen_with") or ())
    return out


@dataclass
class Candidate:
    """Two identities that may be one person: the smallest distance between their people."""

    a: int
    b: int
    distance: float
    scope: str  # "episode" or "show", where the smallest distance comes from
    episodes: list[str]


def rank_pairs(registry: PeopleRegistry, episodes: dict[str, EpisodeNeighbours], across: pa.Table,
               max_distance: float) -> list[Candidate]:
    """Every pair of live, shown identities with a distance under `max_distance`, nearest first,
    except pairs seen together and pairs a reviewer said are not the same."""
    identity_of: dict[tuple[str, int], int] = {}
    for ep_id, links in registry.episodes.items():
        for person in links.people:
            identity = registry.resolve(person.identity)
            who = registry.identities.get(identity)
            if who is not None and not who.hidden:
                identity_of[(ep_id, person.person_id)] = identity
    never = not_same_pairs(registry)
    for ep_id, found in episodes.items():  # seen in the same frame: never one person
        for person, others in found.seen_with.items():
            for other in others:
                a, b = identity_of.get((ep_id, person)), identity_of.get((ep_id, other))
                if a is not None and b is not None and a != b:
                    never.add(frozenset((a, b)))
    best: dict[frozenset[int], Candidate] = {}

    def consider(one: tuple[str, int], two: tuple[str, int], distance: float) -> None:
        a, b = identity_of.get(one), identity_of.get(two)
        if a is None or b is None or a == b or not distance < max_distance:
            return
        key = frozenset((a, b))
        if key in never:
            return
        scope = "episode" if one[0] == two[0] else "show"
        where = sorted({one[0], two[0]})
        found = best.get(key)
        if found is None or distance < found.distance:
            episodes_seen = sorted(set(where) | set(found.episodes if found else ()))
            best[key] = Candidate(min(a, b), max(a, b), round(distance, 4), scope, episodes_seen)
        else:
            found.episodes = sorted(set(found.episodes) | set(where))

    for ep_id, found in episodes.items():
        for person, others in found.nearest.items():
            for other, distance in others:
                consider((ep_id, person), (ep_id, other), distance)
    for row in across.to_pylist():
        consider((row["ep_id"], row["person_id"]), (row["other_ep_id"], row["other_person_id"]), row["distance"])
    return sorted(best.values(), key=lambda c: (c.distance, c.a, c.b))


def matches_by_person(pairs: list[Candidate]) -> dict[int, list[tuple[int, Candidate]]]:
    """identity -> (other identity, pair) for each of its pairs, nearest first."""
    out: dict[int, list[tuple[int, Candidate]]] = {}
    for pair in pairs:  # already nearest first
        out.setdefault(pair.a, []).append((pair.b, pair))
        out.setdefault(pair.b, []).append((pair.a, pair))
    return out


class SuggestionReader:
    """Reads the evidence from storage; keeps each analysis run's neighbours (a run's tables never
    change). Thread-safe: the API's routes run in a thread pool."""

    def __init__(self, storage: Storage):
        self.storage = storage
        self._runs: OrderedDict[tuple[str, str], EpisodeNeighbours] = OrderedDict()
        self._lock = threading.Lock()

    def neighbours(self, ep_id: str, run_id: str) -> EpisodeNeighbours:
        key = (ep_id, run_id)
        with self._lock:
            if key in self._runs:
                self._runs.move_to_end(key)
                return self._runs[key]
        layout = EpisodeLayout(parse_episode_id(ep_id))
        try:
            found = episode_neighbours(table_from_parquet(self.storage.get_bytes(layout.table_key(run_id, "people"))))
        except FileNotFoundError:
            return EpisodeNeighbours()  # the run was replaced since it was linked: the next link catches up
        with self._lock:
            self._runs[key] = found
            while len(self._runs) > CACHED_RUNS:
                self._runs.popitem(last=False)
        return found

    def across(self, registry: PeopleRegistry) -> pa.Table:
        try:
            return table_from_parquet(self.storage.get_bytes(nearest_key(registry.show)))
        except FileNotFoundError:  # a show last counted before the show step kept it
            return show_nearest(registry)

    def pairs(self, registry: PeopleRegistry, max_distance: float | None = None) -> list[Candidate]:
        episodes = {ep_id: self.neighbours(ep_id, links.run_id) for ep_id, links in registry.episodes.items()}
        limit = suggest_distance() if max_distance is None else max_distance
        return rank_pairs(registry, episodes, self.across(registry), limit)
