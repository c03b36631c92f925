"""People per episode: an episode's face tracks grouped by who they show.

Agglomerative clustering (scikit-learn) on the cosine distances between track embeddings, with
complete linkage and one hard rule: two tracks on screen in the same frame are never one person.
Such pairs get the largest possible distance, and complete linkage never merges two groups whose
farthest members are beyond the threshold, so the rule holds by construction.
"""

from __future__ import annotations

import numpy as np

from screentime.identity.embedder import cosine_distance_matrix

CANNOT_LINK = 2.0  # the largest cosine distance there is: above any threshold


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


def group_people(embeddings: np.ndarray, together: np.ndarray, threshold: float) -> np.ndarray:
    """Cluster labels (0..k-1) for each unit; units in `together` never share a label."""
    n = len(embeddings)
    if n == 0:
        return np.zeros(0, np.int64)
    if n == 1:
        return np.zeros(1, np.int64)
    from sklearn.cluster import AgglomerativeClustering

    distances = cosine_distance_matrix(embeddings, embeddings).astype(np.float64)
    distances = np.clip((distances + distances.T) / 2, 0.0, CANNOT_LINK)
    distances[together] = CANNOT_LINK
    np.fill_diagonal(distances, 0.0)
    model = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="complete",
                                    distance_threshold=threshold)
    return model.fit_predict(distances).astype(np.int64)


def number_by_first_appearance(labels: np.ndarray, first_frames: np.ndarray) -> np.ndarray:
    """Person ids 1..k: person 1 is the one seen first (ties: the lower label)."""
    if len(labels) == 0:
        return np.zeros(0, np.int32)
    order = sorted(set(labels.tolist()), key=lambda lab: (int(first_frames[labels == lab].min()), lab))
    ids = {lab: i + 1 for i, lab in enumerate(order)}
    return np.array([ids[lab] for lab in labels.tolist()], np.int32)
