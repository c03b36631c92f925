"""Who is on screen in one episode: track embeddings, people, screen time, as plain functions.

The Dagster assets `embeddings`, `people` and `screentime` call these; tests and the benchmark
call them directly. Everything starts from the tables of the single decoding pass (the face chips
in `faces`, the boxes in `detections`): the video is never decoded again.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import pyarrow as pa

from screentime.contracts.people import EpisodePerson, track_key
from screentime.contracts.tables import EMBEDDINGS_SCHEMA, PEOPLE_SCHEMA
from screentime.identity.embedder import cosine_distance_matrix
from screentime.identity.embedders import DEFAULT_EMBEDDER, Calibration, Embedder, calibration
from screentime.identity.people import co_occurring, group_people, number_by_first_appearance

# A track part whose faces are narrower than this (median over its detections, source pixels) is
# too small to judge: it joins a person only when it is clearly theirs (Calibration.sure).
JUDGE_FACE_PX = 32.0
NEAREST_PEOPLE = 5  # each person's nearest other people kept in people.parquet (the "same person?" candidates)


@dataclass
class EmbeddingStats:
    faces: int
    seconds: float

    @property
    def ms_per_face(self) -> float:
        return 1000 * self.seconds / self.faces if self.faces else 0.0


def decode_chip(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("a face chip is not a readable JPEG")
    return image


def embed_tracks(faces: pa.Table, tracks: pa.Table, embedder: Embedder,
                 calibrated: Calibration | None = None) -> tuple[pa.Table, EmbeddingStats]:
    """One row per track part: a track is cut where its face changes abruptly between two samples
    that are both clear enough to judge (`calibrated.split`, `calibrated.judge`)."""
    calibrated = calibrated or calibration(DEFAULT_EMBEDDER)
    started = time.monotonic()
    vectors = np.zeros((0, embedder.info.dim), np.float32)
    quality = np.zeros(0, np.float32)
    if faces.num_rows:
        chips = [decode_chip(j) for j in faces["jpeg"].to_pylist()]
        boxes = np.column_stack([faces[c].to_numpy() for c in ("x1", "y1", "x2", "y2")]).astype(np.float32)
        marks = np.asarray(faces["landmarks"].to_pylist(), np.float32).reshape(-1, 5, 2)
        vectors, quality = embedder.embed_faces(chips, boxes, marks)
    stats = EmbeddingStats(faces.num_rows, time.monotonic() - started)
    face_tracks = faces["track_id"].to_numpy()
    face_frames = faces["frame_index"].to_numpy()
    shot_of = dict(zip(tracks["track_id"].to_pylist(), tracks["shot"].to_pylist(), strict=True)) \
        if "shot" in tracks.column_names else {}
    rows = []
    for track in tracks.select(["track_id", "first_frame", "last_frame"]).to_pylist():
        mine = np.flatnonzero(face_tracks == track["track_id"])
        mine = mine[np.argsort(face_frames[mine])]
        clear = ~(quality[mine] < calibrated.judge)  # NaN (no measure) counts as clear
        parts = _split_points(vectors[mine], clear, calibrated.split)
        bounds = [track["first_frame"]]
        for cut in parts:  # the boundary: halfway between the two samples that differ
            bounds.append(int((face_frames[mine[cut - 1]] + face_frames[mine[cut]]) // 2) + 1)
        bounds.append(track["last_frame"] + 1)
        groups = np.split(mine, parts) if len(mine) else [mine]
        for part, members in enumerate(groups):
            vector = vectors[members].mean(axis=0) if len(members) else np.zeros(0, np.float32)
            if len(vector):
                vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
            best = float(np.nanmax(quality[members])) if len(members) and np.isfinite(quality[members]).any() \
                else float("nan")
            rows.append({"track_id": track["track_id"], "part": part, "first_frame": bounds[part],
                         "last_frame": bounds[part + 1] - 1, "shot": shot_of.get(track["track_id"], 0),
                         "samples": len(members), "embedding": vector.astype(np.float32).tolist(),
                         "quality": best})
    return pa.Table.from_pylist(rows, schema=EMBEDDINGS_SCHEMA), stats


def _split_points(vectors: np.ndarray, clear: np.ndarray, threshold: float) -> list[int]:
    """Indices i where sample i starts a new part: its face is far from the last clear sample's
    before it (unclear samples neither split a track nor are compared)."""
    cuts, previous = [], None
    for i in np.flatnonzero(clear).tolist():
        if previous is not None and 1.0 - float(vectors[i] @ vectors[previous]) > threshold:
            cuts.append(i)
        previous = i
    return cuts


def group_episode(embeddings: pa.Table, detections: pa.Table, calibrated: Calibration | None = None,
                  apart: Sequence[tuple[Collection[str], Collection[str]]] = ()) -> pa.Table:
    """people.parquet: the person of each track part; parts on screen together are never one person.

    Parts clear enough to judge are grouped first (average linkage under `calibrated.group`); then
    each part too small or unclear to judge (faces under JUDGE_FACE_PX wide, or of a quality under
    `calibrated.judge`: blurred, smeared, tiny) joins the nearest person it may join only when it
    is clearly theirs (under `calibrated.sure`; marked `unsure` for a reviewer), and is otherwise
    no one: left out of the table and of everyone's screen time (a face nobody could recognise is
    not counted as a person of its own). Each person's nearest other people are stored with their
    distances, and the people seen with them.

    `apart`: pairs of track-part sets (track_key) a reviewer said are not the same person
    (screentime.identity.not_same.apart_tracks): a part of one side never joins a part of the other,
    as if they were on screen together, and they are never each other's nearest."""
    calibrated = calibrated or calibration(DEFAULT_EMBEDDER)
    parts = embeddings.to_pylist()
    det_tracks = detections["track_id"].to_numpy()
    det_frames = detections["frame_index"].to_numpy()
    det_width = (detections["x2"].to_numpy() - detections["x1"].to_numpy()).astype(np.float64)
    masks = [(det_tracks == p["track_id"]) & (det_frames >= p["first_frame"]) & (det_frames <= p["last_frame"])
             for p in parts]
    frames_of = [det_frames[m] for m in masks]
    width = np.array([float(np.median(det_width[m])) if m.any() else 0.0 for m in masks])
    has_vector = np.array([bool(p["embedding"]) for p in parts], bool)
    dim = next((len(p["embedding"]) for p in parts if p["embedding"]), 1)
    vectors = np.array([p["embedding"] if p["embedding"] else _orthogonal(i, dim) for i, p in enumerate(parts)],
                       np.float32).reshape(len(parts), dim)
    seen = co_occurring(frames_of)
    together = seen | _cannot_link([track_key(p["track_id"], p["part"]) for p in parts], apart)
    quality = np.array([p["quality"] if p.get("quality") is not None else np.nan for p in parts], np.float64)
    judged = np.flatnonzero(has_vector & (width >= JUDGE_FACE_PX) & ~(quality < calibrated.judge))
    labels = np.full(len(parts), -1, np.int64)
    if len(judged):
        labels[judged] = group_people(vectors[judged], together[np.ix_(judged, judged)], calibrated.group)
    distances = cosine_distance_matrix(vectors, vectors).astype(np.float64)
    unsure = np.zeros(len(parts), bool)
    for i in np.flatnonzero(~has_vector):  # no face chip to judge by (a detector without landmarks)
        labels[i] = labels.max() + 1 if labels.max() >= 0 else 0
    for i in np.flatnonzero(labels < 0):  # too small or unclear to judge: joins only when sure
        best, best_d = -1, np.inf
        if has_vector[i]:
            for label in np.unique(labels[labels >= 0]):
                members = np.flatnonzero(labels == label)
                if together[i, members].any():
                    continue
                d = float(distances[i, members].mean())
                if d < best_d:
                    best, best_d = int(label), d
        if best >= 0 and best_d < calibrated.sure:
            labels[i] = best
            unsure[i] = True
    kept = np.flatnonzero(labels >= 0)
    first = np.array([p["first_frame"] for p in parts], np.int64)
    ids = np.zeros(len(parts), np.int32)
    ids[kept] = number_by_first_appearance(labels[kept], first[kept])
    nearest = _nearest_people(ids[kept], distances[np.ix_(kept, kept)], together[np.ix_(kept, kept)]) \
        if len(kept) else {}
    seen_with = _seen_with(ids[kept], seen[np.ix_(kept, kept)]) if len(kept) else {}
    rows = []
    for i in kept.tolist():
        others = nearest[int(ids[i])]
        rows.append({
            "track_id": parts[i]["track_id"], "part": parts[i]["part"], "first_frame": parts[i]["first_frame"],
            "last_frame": parts[i]["last_frame"], "person_id": int(ids[i]), "unsure": bool(unsure[i]),
            "nearest_person": others[0][0] if others else -1,
            "nearest_distance": others[0][1] if others else float("nan"),
            "nearest_people": [p for p, _ in others], "nearest_distances": [d for _, d in others],
            "seen_with": seen_with[int(ids[i])]})
    return pa.Table.from_pylist(rows, schema=PEOPLE_SCHEMA)


def _cannot_link(keys: list[str], apart: Sequence[tuple[Collection[str], Collection[str]]]) -> np.ndarray:
    """(n, n) bool: parts a reviewer keeps apart (one in each side of a pair of `apart`)."""
    blocked = np.zeros((len(keys), len(keys)), bool)
    for side_a, side_b in apart:
        a = np.array([k in side_a for k in keys], bool)
        b = np.array([k in side_b for k in keys], bool)
        blocked |= np.outer(a, b) | np.outer(b, a)
    return blocked


def _nearest_people(ids: np.ndarray, distances: np.ndarray, together: np.ndarray,
                    k: int = NEAREST_PEOPLE) -> dict[int, list[tuple[int, float]]]:
    """person -> up to k (other person, average-linkage distance), nearest first; people seen
    together (or kept apart by a reviewer) are never candidates."""
    people = np.array(sorted(set(ids.tolist())), np.int64)
    onehot = (ids[:, None] == people[None, :]).astype(np.float64)  # parts x people
    sizes = onehot.sum(axis=0)
    average = (onehot.T @ distances @ onehot) / np.outer(sizes, sizes)
    blocked = (onehot.T @ together.astype(np.float64) @ onehot) > 0
    average[blocked] = np.inf
    np.fill_diagonal(average, np.inf)
    out: dict[int, list[tuple[int, float]]] = {}
    for row, person in enumerate(people.tolist()):
        order = [c for c in np.argsort(average[row], kind="stable")[:k].tolist() if np.isfinite(average[row, c])]
        out[person] = [(int(people[c]), round(float(average[row, c]), 4)) for c in order]
    return out


def _seen_with(ids: np.ndarray, seen: np.ndarray) -> dict[int, list[int]]:
    """person -> the other people with a face in the same analysed frame as theirs."""
    out: dict[int, set[int]] = {int(p): set() for p in ids.tolist()}
    for i, j in zip(*np.nonzero(seen), strict=True):
        if ids[i] != ids[j]:
            out[int(ids[i])].add(int(ids[j]))
    return {p: sorted(others) for p, others in out.items()}


def _orthogonal(index: int, dim: int) -> list[float]:
    vector = np.zeros(dim, np.float32)
    vector[index % dim] = 1.0
    return vector.tolist()


def episode_people(people: pa.Table, embeddings: pa.Table, screentime: pa.Table) -> list[EpisodePerson]:
    """Each person's mean face vector and seconds, for linking to the show's identities."""
    vectors: dict[int, list[np.ndarray]] = {}
    by_part = {(e["track_id"], e["part"]): e["embedding"] for e in embeddings.to_pylist()}
    for row in people.to_pylist():
        vector = by_part.get((row["track_id"], row["part"]))
        if vector:
            vectors.setdefault(row["person_id"], []).append(np.asarray(vector, np.float32))
    seconds = dict(zip(screentime["person_id"].to_pylist(), screentime["seconds"].to_pylist(), strict=True))
    tracks: dict[int, list[str]] = {}
    for row in people.to_pylist():
        tracks.setdefault(row["person_id"], []).append(track_key(row["track_id"], row["part"]))
    out = []
    for person_id in sorted(set(people["person_id"].to_pylist())):
        mean = np.mean(vectors[person_id], axis=0) if person_id in vectors else np.zeros(0, np.float32)
        if len(mean):
            mean = mean / max(float(np.linalg.norm(mean)), 1e-12)
        out.append(EpisodePerson(person_id=person_id, identity=0, seconds=seconds.get(person_id, 0.0),
                                 embedding=[round(float(v), 5) for v in mean], tracks=tracks[person_id]))
    return out


__all__ = ["EmbeddingStats", "cosine_distance_matrix", "embed_tracks", "episode_people", "group_episode"]
