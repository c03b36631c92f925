"""People across a show: each episode's people linked to show-level identities.

An episode's people are matched to the show's existing identities by face (Hungarian assignment
on the cosine distance between a person's mean face vector and each identity's, so two people of
one episode never become one identity); a match needs a distance under the threshold, and the
people left over become new identities, numbered on from the last id in order of first
appearance. Ids are never renumbered or reused, so names given to them survive re-runs of the
episode (its old links are replaced by the new ones) and new episodes.

A reviewer's edits (names, merges, tracks moved or left out: screentime.identity.edits) live in
the same registry; the show's screen-time table applies them, counting each identity's seconds
as the union of the frames of every track part that ends up theirs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from scipy.optimize import linear_sum_assignment

from screentime.contracts.episode import parse_episode_id
from screentime.contracts.layout import ShowLayout
from screentime.contracts.people import (
    EpisodeLinks,
    EpisodePerson,
    Identity,
    PeopleRegistry,
    part_of,
    track_key,
    track_pieces,
)
from screentime.identity.embedder import cosine_distance_matrix
from screentime.identity.not_same import forbidden_links
from screentime.identity.screen_time import FrameSeconds

SHOW_SCREENTIME_SCHEMA = pa.schema([
    ("identity_id", pa.int32()), ("name", pa.string()), ("named", pa.bool_()), ("ep_id", pa.string()),
    ("season", pa.int32()), ("episode", pa.int32()), ("seconds", pa.float64()), ("appearances", pa.int32()),
    ("crop", pa.string()),
])
REGISTRY_VERSION_METADATA = b"screentime.registry_version"  # the registry version a show table was made from
# Each episode person's nearest people of the show's other episodes (mean face vectors, cosine):
# the "same person?" candidates across the show (screentime.identity.suggestions).
SHOW_NEAREST_SCHEMA = pa.schema([
    ("ep_id", pa.string()), ("person_id", pa.int32()), ("other_ep_id", pa.string()),
    ("other_person_id", pa.int32()), ("distance", pa.float32()),
])
NEAREST_ACROSS = 5  # per episode person
NEVER = 1e6  # the cost of a link a reviewer ruled out: never under any threshold


@dataclass
class EpisodeTables:
    """What the show table needs of one published episode (its analysis run's tables)."""

    detections: pa.Table  # frame_index, track_id
    people: pa.Table  # track_id, part, first_frame, last_frame, person_id
    crops: pa.Table  # track_id, frame_index, score, path
    analysis_fps: float
    frames: pa.Table | None = None  # frame_index, duration_s: the seconds each analysed frame stands for


def identity_vectors(registry: PeopleRegistry, dim: int | None = None) -> dict[int, np.ndarray]:
    """Each identity's mean face vector over its people in every episode linked so far (an
    episode being re-linked counts with its old links: its re-run finds its old identities).
    Only vectors of length `dim` count (other lengths come from another embedder)."""
    sums: dict[int, list[np.ndarray]] = {}
    for links in registry.episodes.values():
        for person in links.people:
            if person.embedding and (dim is None or len(person.embedding) == dim):
                sums.setdefault(registry.resolve(person.identity), []).append(np.asarray(person.embedding, np.float32))
    return {ident: np.mean(vectors, axis=0) for ident, vectors in sums.items()}


def link_episode(registry: PeopleRegistry, ep_id: str, run_id: str, people: list[EpisodePerson],
                 threshold: float, people_sha256: str = "") -> PeopleRegistry:
    """A new registry (unsaved) with the episode's people linked; their `identity` fields are ignored.
    A person is never linked to an identity a reviewer said is not the one its track parts counted
    for (screentime.identity.not_same)."""
    updated = registry.model_copy(deep=True)
    people = sorted(people, key=lambda p: p.person_id)  # person ids follow first appearance
    forbidden = forbidden_links(registry, ep_id, run_id, people)
    with_vectors = [i for i, p in enumerate(people) if p.embedding]
    dim = len(people[with_vectors[0]].embedding) if with_vectors else None
    known = identity_vectors(updated, dim)
    ids = sorted(known)
    assigned: dict[int, int] = {}  # index in people -> identity
    if ids and with_vectors:
        persons = np.array([people[i].embedding for i in with_vectors], np.float32)
        costs = cosine_distance_matrix(persons, np.array([known[i] for i in ids], np.float32))
        for row, index in enumerate(with_vectors):
            for col, identity in enumerate(ids):
                if identity in forbidden.get(index, ()):
                    costs[row, col] = NEVER
        rows, cols = linear_sum_assignment(costs)
        for row, col in zip(rows, cols, strict=True):
            if costs[row, col] < threshold:
                assigned[with_vectors[row]] = ids[col]
    _carry_by_tracks(registry.episodes.get(ep_id), run_id, people, assigned, forbidden)
    linked = []
    for index, person in enumerate(people):
        identity = assigned.get(index)
        if identity is None:
            identity = updated.next_id
            updated.identities[identity] = Identity(id=identity)
            updated.next_id += 1
        linked.append(person.model_copy(update={"identity": identity}))
    kept = set().union(*(p.tracks for p in linked)) if linked else set()
    old = registry.episodes.get(ep_id)
    edits = {key: edit for key, edit in (old.track_edits.items() if old else []) if part_of(key) in kept}
    cuts = {key: list(frames) for key, frames in (old.track_cuts.items() if old else []) if key in kept}
    updated.episodes[ep_id] = EpisodeLinks(run_id=run_id, people_sha256=people_sha256, people=linked,
                                           track_edits=edits, track_cuts=cuts)
    return updated


def _carry_by_tracks(old: EpisodeLinks | None, run_id: str, people: list[EpisodePerson],
                     assigned: dict[int, int], forbidden: dict[int, set[int]]) -> None:
    """A re-run of the same analysis run whose faces found no identity (e.g. after an embedder
    change, its vectors cannot be compared with the old ones) takes the identity of the old person
    that held most of its track parts, so reviewers' names stay where they were."""
    if old is None or old.run_id != run_id:
        return
    taken = set(assigned.values())
    for index, person in enumerate(people):
        if index in assigned:
            continue
        overlap = [(len(set(person.tracks) & set(o.tracks)), o.identity) for o in old.people]
        count, identity = max(overlap, default=(0, 0))
        if count > 0 and identity not in taken and identity not in forbidden.get(index, ()):
            assigned[index] = identity
            taken.add(identity)


def episode_identity_rows(registry: PeopleRegistry, ep_id: str, tables: EpisodeTables) -> list[dict]:
    """One row per identity on screen in the episode after every edit: seconds are the union of
    the analysed frames of all their track parts (each the time it stands for), as for an episode's
    people. A track part a reviewer cut counts as its pieces, each for whom it is (a frame at a
    cut counts for the piece that starts there)."""
    links = registry.episodes[ep_id]
    frame_seconds = FrameSeconds(tables.frames, tables.analysis_fps)
    person_of = {p.person_id: p for p in links.people}
    det_tracks = tables.detections["track_id"].to_numpy()
    det_frames = tables.detections["frame_index"].to_numpy()
    frames: dict[int, list[np.ndarray]] = {}
    parts: dict[int, int] = {}
    spans: dict[int, list[tuple[int, int, int]]] = {}  # identity -> (track, first, last)
    for row in tables.people.to_pylist():
        person = person_of.get(row["person_id"])
        if person is None:
            continue
        part = track_key(row["track_id"], row["part"])
        for key, first, last in track_pieces(part, row["first_frame"], row["last_frame"], links.track_cuts.get(part)):
            identity = registry.track_identity(ep_id, person, key)
            if identity is None:
                continue
            hit = (det_tracks == row["track_id"]) & (det_frames >= first) & (det_frames <= last)
            frames.setdefault(identity, []).append(det_frames[hit])
            parts[identity] = parts.get(identity, 0) + 1
            spans.setdefault(identity, []).append((row["track_id"], first, last))
    best = _best_crops(tables.crops, spans)
    ep = parse_episode_id(ep_id)
    rows = []
    for identity, chunks in frames.items():
        who = registry.identities[identity]
        rows.append({"identity_id": identity, "name": who.label, "named": who.name is not None, "ep_id": ep_id,
                     "season": ep.season, "episode": ep.episode,
                     "seconds": round(frame_seconds.of(np.concatenate(chunks)), 3),
                     "appearances": parts[identity], "crop": best.get(identity)})
    return sorted(rows, key=lambda r: (-r["seconds"], r["identity_id"]))


def _best_crops(crops: pa.Table, spans: dict[int, list[tuple[int, int, int]]]) -> dict[int, str]:
    best: dict[int, tuple[float, str]] = {}
    if crops.num_rows == 0:
        return {}
    for crop in crops.select(["track_id", "frame_index", "score", "path"]).to_pylist():
        for identity, mine in spans.items():
            if any(t == crop["track_id"] and a <= crop["frame_index"] <= b for t, a, b in mine):
                if identity not in best or crop["score"] > best[identity][0]:
                    best[identity] = (crop["score"], crop["path"])
                break
    return {identity: path for identity, (_, path) in best.items()}


def show_screentime(registry: PeopleRegistry, episodes: dict[str, EpisodeTables]) -> pa.Table:
    """identity × episode seconds for the whole show, edits applied (hidden identities and left-out
    tracks not counted); a season's table is this one filtered on `season`. Episodes linked in the
    registry whose tables are not given are left out."""
    rows = []
    for ep_id in sorted(registry.episodes):
        if ep_id in episodes:
            rows.extend(episode_identity_rows(registry, ep_id, episodes[ep_id]))
    table = pa.Table.from_pylist(rows, schema=SHOW_SCREENTIME_SCHEMA)
    return table.replace_schema_metadata({REGISTRY_VERSION_METADATA: str(registry.version).encode()})


def nearest_key(show: str) -> str:
    """Where the show step keeps SHOW_NEAREST_SCHEMA's table, beside the show's screen-time table."""
    return f"{ShowLayout(show).prefix}nearest.parquet"


def show_nearest(registry: PeopleRegistry, k: int = NEAREST_ACROSS) -> pa.Table:
    """Each episode person's k nearest people of the other episodes of the show (cosine distance of
    their mean face vectors, as linking compares them), nearest first."""
    persons = [(ep_id, p) for ep_id in sorted(registry.episodes) for p in registry.episodes[ep_id].people
               if p.embedding]
    dim = max((len(p.embedding) for _, p in persons), default=0)  # another embedder's vectors do not compare
    persons = [(ep_id, p) for ep_id, p in persons if len(p.embedding) == dim]
    keys = [(ep_id, p.person_id) for ep_id, p in persons]
    vectors = [p.embedding for _, p in persons]
    rows = []
    if len(keys) > 1:
        matrix = np.asarray(vectors, np.float32)
        distances = cosine_distance_matrix(matrix, matrix).astype(np.float64)
        episode = np.array([ep for ep, _ in keys])
        for row, (ep_id, person_id) in enumerate(keys):
            candidates = np.flatnonzero(episode != ep_id)
            for col in candidates[np.argsort(distances[row, candidates], kind="stable")[:k]].tolist():
                rows.append({"ep_id": ep_id, "person_id": person_id, "other_ep_id": keys[col][0],
                             "other_person_id": keys[col][1], "distance": round(float(distances[row, col]), 4)})
    return pa.Table.from_pylist(rows, schema=SHOW_NEAREST_SCHEMA)
