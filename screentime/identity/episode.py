"""Who is on screen in one episode: track embeddings, people, screen time, as plain functions.

The Dagster assets `embeddings`, `people` and `screentime` call these; tests and the benchmark
call them directly. Everything starts from the tables of the single decoding pass (the face chips
in `faces`, the boxes in `detections`): the video is never decoded again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np
import pyarrow as pa

from screentime.contracts.people import EpisodePerson, track_key
from screentime.contracts.tables import EMBEDDINGS_SCHEMA, PEOPLE_SCHEMA
from screentime.identity.embedder import FaceEmbedder, cosine_distance_matrix
from screentime.identity.people import co_occurring, group_people, number_by_first_appearance

# Cosine distances, measured on real faces (bench/bench_embeddings.py, docs/people.md): the same
# person in other shots stays under ~0.04 when the face is whole; different people start at ~0.036.
GROUP_THRESHOLD = 0.04  # tracks closer than this (complete linkage) are one person
SPLIT_THRESHOLD = 0.15  # a track whose face moves this far between two samples is two people
LINK_THRESHOLD = 0.04  # an episode's person and a show identity closer than this are the same


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


def embed_tracks(faces: pa.Table, tracks: pa.Table, embedder: FaceEmbedder,
                 split_threshold: float = SPLIT_THRESHOLD) -> tuple[pa.Table, EmbeddingStats]:
    """One row per track part: a track is cut where its face changes abruptly between samples."""
    started = time.monotonic()
    vectors = np.zeros((0, embedder.info.dim), np.float32)
    if faces.num_rows:
        chips = [decode_chip(j) for j in faces["jpeg"].to_pylist()]
        boxes = np.column_stack([faces[c].to_numpy() for c in ("x1", "y1", "x2", "y2")]).astype(np.float32)
        vectors = embedder.embed(chips, boxes)
    stats = EmbeddingStats(faces.num_rows, time.monotonic() - started)
    face_tracks = faces["track_id"].to_numpy()
    face_frames = faces["frame_index"].to_numpy()
    shot_of = dict(zip(tracks["track_id"].to_pylist(), tracks["shot"].to_pylist(), strict=True)) \
        if "shot" in tracks.column_names else {}
    rows = []
    for track in tracks.select(["track_id", "first_frame", "last_frame"]).to_pylist():
        mine = np.flatnonzero(face_tracks == track["track_id"])
        mine = mine[np.argsort(face_frames[mine])]
        parts = _split_points(vectors[mine], split_threshold)
        bounds = [track["first_frame"]]
        for cut in parts:  # the boundary: halfway between the two samples that differ
            bounds.append(int((face_frames[mine[cut - 1]] + face_frames[mine[cut]]) // 2) + 1)
        bounds.append(track["last_frame"] + 1)
        groups = np.split(mine, parts) if len(mine) else [mine]
        for part, members in enumerate(groups):
            vector = vectors[members].mean(axis=0) if len(members) else np.zeros(0, np.float32)
            if len(vector):
                vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
            rows.append({"track_id": track["track_id"], "part": part, "first_frame": bounds[part],
                         "last_frame": bounds[part + 1] - 1, "shot": shot_of.get(track["track_id"], 0),
                         "samples": len(members), "embedding": vector.astype(np.float32).tolist()})
    return pa.Table.from_pylist(rows, schema=EMBEDDINGS_SCHEMA), stats


def _split_points(vectors: np.ndarray, threshold: float) -> list[int]:
    """Indices i where sample i starts a new part (its face is far from sample i-1's)."""
    if len(vectors) < 2:
        return []
    steps = 1.0 - np.sum(vectors[1:] * vectors[:-1], axis=1)
    return [int(i) + 1 for i in np.flatnonzero(steps > threshold)]


def group_episode(embeddings: pa.Table, detections: pa.Table, threshold: float = GROUP_THRESHOLD) -> pa.Table:
    """people.parquet: the person of each track part; parts on screen together are never one person."""
    parts = embeddings.to_pylist()
    det_tracks = detections["track_id"].to_numpy()
    det_frames = detections["frame_index"].to_numpy()
    frames_of = [det_frames[(det_tracks == p["track_id"]) & (det_frames >= p["first_frame"])
                            & (det_frames <= p["last_frame"])] for p in parts]
    has_vector = [bool(p["embedding"]) for p in parts]
    dim = next((len(p["embedding"]) for p in parts if p["embedding"]), 1)
    vectors = np.array([p["embedding"] if p["embedding"] else _orthogonal(i, dim) for i, p in enumerate(parts)],
                       np.float32).reshape(len(parts), dim)
    together = co_occurring(frames_of)
    labels = group_people(vectors, together, threshold)
    for i, ok in enumerate(has_vector):  # a part without a face vector stays a person of its own
        if not ok:
            labels[i] = labels.max() + 1 + i if len(labels) else 0
    first = np.array([p["first_frame"] for p in parts], np.int64)
    ids = number_by_first_appearance(labels, first)
    rows = [{"track_id": p["track_id"], "part": p["part"], "first_frame": p["first_frame"],
             "last_frame": p["last_frame"], "person_id": int(ids[i])} for i, p in enumerate(parts)]
    return pa.Table.from_pylist(rows, schema=PEOPLE_SCHEMA)


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
