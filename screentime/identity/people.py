"""People per episode: an episode's face tracks grouped by who they show.

Agglomerative clustering with average linkage on the cosine distances between track-part vectors
(calibrated on real multi-photo sets: bench/calibrate_identity.py), under one hard rule: two parts
on screen in the same frame are never one person. The rule is kept by the clustering itself (two
groups that hold such a pair are never merged), not by a large distance that averaging could
dilute. Average linkage, not complete: one odd photo of a person (a turned head, bad light) no
longer keeps the rest of their shots apart, while a merge still needs the two groups to be close
on average.
"""

from __future__ import annotations

import numpy as np

from screentime.identity.embedder import cosine_distance_matrix


def co_occurring(units_frames: list[np.ndarray]) -> np.ndarray:
    """(n, n) bool: unit i and unit j have a detection in the same analysed frame."""
    n = len(units_frames)
    owners: dict[int, list[int]] = {}
    for unit, frames in enumerate(units_frames):
        for frame in np.unique(frames).tolist():
            owners.setdefault(frame, []).append(unit)
    together = np.zeros((n, n), bool)
    for units in owners.values():
        if len(units) > 1:
            idx = np.array(units)
            together[np.ix_(idx, idx)] = True
    np.fill_diagonal(together, False)
    return together


def group_people(embeddings: np.ndarray, together: np.ndarray, threshold: float,
                 linkage: str = "average") -> np.ndarray:
    """Cluster labels (0..k-1) for each unit; units in `together` never share a label.

    Two groups merge, closest first, while their linkage distance (the mean of their members'
    pairwise distances for `average`, the largest for `complete`) is under `threshold` and no
    member of one is on screen with a member of the other."""
    n = len(embeddings)
    if n <= 1:
        return np.zeros(n, np.int64)
    if linkage not in ("average", "complete"):
        raise ValueError(f"unknown linkage {linkage!r}: use average or complete")
    distances = cosine_distance_matrix(embeddings, embeddings).astype(np.float64)
    distances = (distances + distances.T) / 2
    # Cluster state, indexed by each cluster's first unit: `link` holds summed pairwise distances
    # (average) or the largest (complete); `current` the linkage distance, inf where no merge may go.
    link = distances.copy()
    blocked = np.asarray(together, bool).copy()
    size = np.ones(n)
    current = distances.copy()
    current[blocked] = np.inf
    np.fill_diagonal(current, np.inf)
    labels = np.arange(n)
    dead = np.zeros(n, bool)
    while True:
        a, b = divmod(int(np.argmin(current)), n)
        if not current[a, b] < threshold:
            break
        a, b = min(a, b), max(a, b)  # b joins a
        if linkage == "average":
            link[a, :] += link[b, :]
        else:
            link[a, :] = np.maximum(link[a, :], link[b, :])
        link[:, a] = link[a, :]
        blocked[a, :] |= blocked[b, :]
        blocked[:, a] = blocked[a, :]
        size[a] += size[b]
        row = link[a, :] / (size[a] * size) if linkage == "average" else link[a, :].copy()
        dead[b] = True
        row[blocked[a, :] | dead] = np.inf
        current[a, :] = row
        current[:, a] = row
        current[a, a] = np.inf
        current[b, :] = np.inf
        current[:, b] = np.inf
        labels[labels == b] = a
    _, dense = np.unique(labels, return_inverse=True)
    return dense.astype(np.int64)


def number_by_first_appearance(labels: np.ndarray, first_frames: np.ndarray) -> np.ndarray:
    """Person ids 1..k: person 1 is the one seen first (ties: the lower label)."""
    if len(labels) == 0:
        return np.zeros(0, np.int32)
    order = sorted(set(labels.tolist()), key=lambda lab: (int(first_frames[labels == lab].min()), lab))
    ids = {lab: i + 1 for i, lab in enumerate(order)}
    return np.array([ids[lab] for lab in labels.tolist()], np.int32)
