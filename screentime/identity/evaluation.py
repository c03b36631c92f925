"""Scoring an episode's people against the truth of a clip, as bench/bench_identity.py and the
tests do (the same rules as the project's shared scorer, score_people.py).

A truth file is JSON: `shots`, each with `first_frame`, `last_frame` and the real `person` (or
`identity`), and `seconds` per real person. For every shot the person of its main face (the track
part with the most face area in the shot) is compared with the truth:
  people      distinct people among the main faces (truth: distinct real people)
  P / R / F1  pairwise over shots: two shots of one real person given one person is a right pair
  purity      share of shots whose person holds mostly that real person
  time_error  per real person, |seconds of their majority person - truth| / truth, mean over people
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass

import pyarrow as pa


@dataclass(frozen=True)
class PeopleScore:
    people: int
    truth_people: int
    precision: float
    recall: float
    f1: float
    purity: float
    time_error: float
    shots_without_person: int

    def as_dict(self) -> dict:
        return asdict(self)


def main_people(tracks: pa.Table, people: pa.Table, shots: list[dict]) -> list[int | None]:
    """The person of each truth shot's main face (None when no face was found in it)."""
    boxes = {r["track_id"]: (r["frames"], r["boxes"])
             for r in tracks.select(["track_id", "frames", "boxes"]).to_pylist()}
    parts = people.to_pylist()
    out = []
    for shot in shots:
        a, b = shot["first_frame"], shot["last_frame"]
        best, best_area = None, 0.0
        for part in parts:
            frames, xyxy = boxes[part["track_id"]]
            lo, hi = max(a, part["first_frame"]), min(b, part["last_frame"])
            area = sum((x2 - x1) * (y2 - y1) for f, (x1, y1, x2, y2) in zip(frames, xyxy, strict=True) if lo <= f <= hi)
            if area > best_area:
                best, best_area = part["person_id"], area
        out.append(best)
    return out


def score_people(tracks: pa.Table, people: pa.Table, screentime: pa.Table, truth: dict) -> PeopleScore:
    shots = truth["shots"]
    real = [s.get("identity", s.get("person")) for s in shots]
    found = main_people(tracks, people, shots)
    tp = fp = fn = 0
    for i, j in itertools.combinations(range(len(real)), 2):
        same_real = real[i] == real[j]
        same_found = found[i] is not None and found[i] == found[j]
        tp += same_real and same_found
        fp += same_found and not same_real
        fn += same_real and not same_found
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    by_found: dict[int | None, Counter] = defaultdict(Counter)
    for r, f in zip(real, found, strict=True):
        by_found[f][r] += 1
    purity = sum(c.most_common(1)[0][1] for f, c in by_found.items() if f is not None) / max(1, len(real))
    seconds = dict(zip(screentime["person_id"].to_pylist(), screentime["seconds"].to_pylist(), strict=True))
    errors = []
    for person, true_s in truth["seconds"].items():
        mine = Counter(f for r, f in zip(real, found, strict=True) if r == person and f is not None)
        got = seconds.get(mine.most_common(1)[0][0], 0.0) if mine else 0.0
        errors.append(abs(got - true_s) / true_s)
    return PeopleScore(people=len({f for f in found if f is not None}), truth_people=len(set(real)),
                       precision=precision, recall=recall, f1=f1, purity=purity,
                       time_error=sum(errors) / max(1, len(errors)),
                       shots_without_person=sum(f is None for f in found))
