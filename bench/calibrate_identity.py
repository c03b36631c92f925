"""Calibrates grouping on real multi-photo sets: same/different-person distance distributions of
track vectors, per embedder, and the threshold each linkage would need.

Each set is a finished run of an identity clip (its manifest) and the clip's truth (see
screentime/identity/evaluation.py). For each embedder the track parts' vectors are computed from
the run's own face chips (as the `embeddings` step does, without splitting), the main part of
every truth shot is labelled with its real person, and the script prints:
  - the distance distributions: same person in other shots (median, p90, p99) and different
    people (p1, p10, median), pooled over the sets;
  - consecutive samples inside one track (the split rule must stay above them);
  - per linkage (average, complete), each set's F1 at thresholds around the pooled boundary and
    the threshold with the best worst-set F1 (a threshold that suits every set, not one).
usage: python bench/calibrate_identity.py RUN_MANIFEST:TRUTH.json [...] [--within MANIFEST ...]
                                          [--embedders faceres,dlib]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))

from screentime.identity.embedders import load_embedder  # noqa: E402
from screentime.identity.episode import decode_chip  # noqa: E402
from screentime.identity.evaluation import main_people  # noqa: E402
from screentime.identity.people import group_people  # noqa: E402


def run_tables(manifest_path: str) -> dict:
    manifest = json.loads(Path(manifest_path).read_text())
    prefix = Path(manifest["artifacts"]["manifests"])
    return {name: pq.read_table(prefix / f"{name}.parquet") for name in ("faces", "tracks")}


def chip_vectors(faces, embedder) -> dict[int, list[np.ndarray]]:
    """Each track's sample vectors in frame order."""
    rows = sorted(faces.to_pylist(), key=lambda r: (r["track_id"], r["frame_index"]))
    if not rows:
        return {}
    images = [decode_chip(r["jpeg"]) for r in rows]
    boxes = np.array([[r["x1"], r["y1"], r["x2"], r["y2"]] for r in rows], np.float32)
    marks = np.array([r["landmarks"] for r in rows], np.float32).reshape(-1, 5, 2)
    vectors = embedder.embed(images, boxes, marks)
    out: dict[int, list[np.ndarray]] = {}
    for row, vector in zip(rows, vectors, strict=True):
        out.setdefault(row["track_id"], []).append(vector)
    return out


def unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def labelled(tables, truth, samples) -> tuple[np.ndarray, list[str]]:
    """The mean vector of each truth shot's main track, with the shot's real person."""
    tracks = tables["tracks"]
    people = tracks.select(["track_id", "first_frame", "last_frame"]).append_column(
        "person_id", tracks["track_id"])  # one "person" per track: main_people then names the main track
    main = main_people(tracks, people, truth["shots"])
    vectors, names = [], []
    for track, shot in zip(main, truth["shots"], strict=True):
        if track is not None and track in samples:
            vectors.append(unit(np.mean(samples[track], axis=0)))
            names.append(shot.get("identity", shot.get("person")))
    return np.array(vectors, np.float32), names


def pair_f1(labels: np.ndarray, names: list[str]) -> float:
    tp = fp = fn = 0
    for i, j in itertools.combinations(range(len(names)), 2):
        same, together = names[i] == names[j], labels[i] == labels[j]
        tp += same and together
        fp += together and not same
        fn += same and not together
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return 2 * p * r / (p + r) if p + r else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sets", nargs="+", help="MANIFEST:TRUTH")
    parser.add_argument("--within", nargs="*", default=[], help="more runs for within-track distances")
    parser.add_argument("--embedders", default="faceres,dlib")
    args = parser.parse_args()
    for name in args.embedders.split(","):
        embedder = load_embedder(name)
        sets, same, diff, steps = [], [], [], []
        for spec in args.sets:
            manifest, truth_path = spec.rsplit(":", 1)
            tables = run_tables(manifest)
            samples = chip_vectors(tables["faces"], embedder)
            vectors, names = labelled(tables, json.loads(Path(truth_path).read_text()), samples)
            distances = 1.0 - vectors @ vectors.T
            for i, j in itertools.combinations(range(len(names)), 2):
                (same if names[i] == names[j] else diff).append(distances[i, j])
            sets.append((Path(truth_path).stem, vectors, names))
            steps += [float(1 - a @ b) for s in samples.values() for a, b in itertools.pairwise(s)]
        for manifest in args.within:
            samples = chip_vectors(run_tables(manifest)["faces"], embedder)
            steps += [float(1 - a @ b) for s in samples.values() for a, b in itertools.pairwise(s)]
        same, diff, steps = np.array(same), np.array(diff), np.array(steps)
        print(f"\n## {name} ({embedder.info.name})")
        print(f"same person, other shots: median {np.median(same):.3f}  p90 {np.percentile(same, 90):.3f}  "
              f"p99 {np.percentile(same, 99):.3f}   (n={len(same)})")
        print(f"different people:         p1 {np.percentile(diff, 1):.3f}  p10 {np.percentile(diff, 10):.3f}  "
              f"median {np.median(diff):.3f}   (n={len(diff)})")
        if len(steps):
            print(f"consecutive samples in one track: median {np.median(steps):.3f}  p99 {np.percentile(steps, 99):.3f}"
                  f"  max {steps.max():.3f}   (n={len(steps)})")
        auc = float((diff[:, None] > same[None, :]).mean()) if len(same) and len(diff) else float("nan")
        print(f"AUC (a different-person pair farther than a same-person pair): {auc:.3f}")
        lo, hi = np.percentile(same, 40), np.percentile(diff, 25)
        grid = np.round(np.linspace(min(lo, hi), max(lo, hi), 12), 3)
        for linkage in ("average", "complete"):
            print(f"\n{linkage} linkage: F1 per set at each threshold")
            print("| threshold | " + " | ".join(s[0] for s in sets) + " | worst |")
            print("|---" * (len(sets) + 2) + "|")
            best = (-1.0, 0.0)
            for threshold in grid:
                scores = []
                for _, vectors, names in sets:
                    labels = group_people(vectors, np.zeros((len(names), len(names)), bool), float(threshold),
                                          linkage=linkage)
                    scores.append(pair_f1(labels, names))
                if min(scores) > best[0]:
                    best = (min(scores), float(threshold))
                print(f"| {threshold:.3f} | " + " | ".join(f"{s:.2f}" for s in scores) + f" | {min(scores):.2f} |")
            print(f"best worst-set F1 {best[0]:.2f} at {best[1]:.3f}")


if __name__ == "__main__":
    main()
