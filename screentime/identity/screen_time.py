"""Screen time per person: how long each person of an episode is on screen.

A person's screen time is the union of the analysed frames in which any of their tracks has a
detection, each frame standing for the time until the next analysed frame (the frames table's
`duration_s`, capped; 1/analysis_fps for a constant-rate stream, DESIGN.md's rule): two of their
tracks in one frame count that frame once. One `FrameSeconds` serves the episode's table, the
show's and the review pages, so they agree.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from screentime.contracts.tables import SCREENTIME_SCHEMA


class FrameSeconds:
    """The seconds a set of analysed frames stands for: the sum of their `duration_s` in the frames
    table. A frames table written before that column existed counts 1/analysis_fps per frame."""

    def __init__(self, frames: pa.Table | None, analysis_fps: float):
        self.fallback = 1.0 / analysis_fps if analysis_fps > 0 else 0.0
        self.index = self.seconds = None
        if frames is not None and "duration_s" in frames.schema.names and frames.num_rows:
            order = np.argsort(frames["frame_index"].to_numpy())
            self.index = frames["frame_index"].to_numpy()[order]
            self.seconds = frames["duration_s"].to_numpy(zero_copy_only=False)[order]

    def of(self, frame_indices: np.ndarray) -> float:
        """Seconds of these frames, each counted once."""
        unique = np.unique(frame_indices)
        if self.index is None:
            return len(unique) * self.fallback
        at = np.clip(np.searchsorted(self.index, unique), 0, len(self.index) - 1)
        known = self.index[at] == unique
        return float(self.seconds[at[known]].sum()) + int((~known).sum()) * self.fallback


def screen_time_table(detections: pa.Table, people: pa.Table, crops: pa.Table, frame_seconds: FrameSeconds,
                      duration_s: float, names: dict[int, str] | None = None) -> pa.Table:
    """One row per person, longest on screen first.

    detections: frame_index, timestamp_s, track_id (one row per face box)
    people:     track_id, part, first_frame, last_frame, person_id (the track parts of each person)
    crops:      track_id, frame_index, score, path (exported crops; may be empty)
    """
    names = names or {}
    det_frames = detections["frame_index"].to_numpy()
    det_times = detections["timestamp_s"].to_numpy()
    det_tracks = detections["track_id"].to_numpy()
    person_of = np.full(len(det_frames), -1, np.int64)
    for row in people.to_pylist():
        hit = (det_tracks == row["track_id"]) & (det_frames >= row["first_frame"]) & (det_frames <= row["last_frame"])
        person_of[hit] = row["person_id"]
    crop_person = _crop_people(crops, people)
    rows = []
    for person_id in sorted(set(people["person_id"].to_pylist())):
        mine = person_of == person_id
        seconds = frame_seconds.of(det_frames[mine])
        parts = sum(1 for p in people["person_id"].to_pylist() if p == person_id)
        best = crop_person.get(person_id)
        rows.append({
            "person_id": person_id,
            "name": names.get(person_id),
            "seconds": round(seconds, 3),
            "share": round(seconds / duration_s, 6) if duration_s > 0 else 0.0,
            "appearances": parts,
            "first_seen_s": float(det_times[mine].min()) if mine.any() else None,
            "last_seen_s": float(det_times[mine].max()) if mine.any() else None,
            "crop": best,
        })
    rows.sort(key=lambda r: (-r["seconds"], r["person_id"]))
    return pa.Table.from_pylist(rows, schema=SCREENTIME_SCHEMA)


def _crop_people(crops: pa.Table, people: pa.Table) -> dict[int, str]:
    """Each person's best exported crop (highest detector score)."""
    best: dict[int, tuple[float, str]] = {}
    if crops.num_rows == 0:
        return {}
    parts = people.to_pylist()
    for crop in crops.select(["track_id", "frame_index", "score", "path"]).to_pylist():
        for part in parts:
            in_part = part["first_frame"] <= crop["frame_index"] <= part["last_frame"]
            if part["track_id"] == crop["track_id"] and in_part:
                current = best.get(part["person_id"])
                if current is None or crop["score"] > current[0]:
                    best[part["person_id"]] = (crop["score"], crop["path"])
                break
    return {person: path for person, (_, path) in best.items()}
