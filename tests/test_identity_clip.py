"""People and screen time on real people who look different from shot to shot: the committed
identity clip (tests/media/identity_people.mp4: 6 people x 3 different photos) through the real
episode job, scored against its truth the way bench/bench_identity.py and the shared scorer do."""

from __future__ import annotations

import json

import pyarrow.parquet as pq

from screentime.identity.embedders import calibration
from screentime.identity.evaluation import score_people
from tests.dagster_helpers import local_defs, run_episode_job


def test_people_and_seconds_match_the_truth(data_dir, instance, identity_people):
    assert run_episode_job(local_defs(data_dir), instance, "faces-s01e01", identity_people).success
    manifest = json.loads((data_dir / "artifacts/manifests/faces/s01/e01/manifest.json").read_text())
    run_dir = data_dir / "artifacts/manifests/faces/s01/e01" / manifest["run_id"]
    tables = {n: pq.read_table(run_dir / f"{n}.parquet") for n in ("tracks", "people", "screentime", "embeddings")}
    truth = json.loads(identity_people.with_suffix(".json").read_text())
    score = score_people(tables["tracks"], tables["people"], tables["screentime"], truth)
    assert score.f1 >= 0.9 and abs(score.people - score.truth_people) <= 1, score
    assert score.time_error <= 0.03 and score.shots_without_person == 0, score
    # tracks end at cuts: no track holds frames of two shots
    starts = [s["first_frame"] for s in truth["shots"]]
    tracks = tables["tracks"].to_pylist()
    for track in tracks:
        assert not any(track["first_frame"] < cut <= track["last_frame"] for cut in starts), track
    # and start on the cut itself: a face's first frame in a shot is screen time too
    assert all(any(t["first_frame"] == start for t in tracks) for start in starts)
    # the blurred, enlarged copy behind every photo is found as a face, and left out as no one's
    judge = calibration().judge
    unsure = {(r["track_id"], r["part"]): r["unsure"] for r in tables["people"].to_pylist()}
    unclear = [(r["track_id"], r["part"]) for r in tables["embeddings"].to_pylist() if r["quality"] < judge]
    assert len(unclear) >= 6
    assert all(unsure.get(part, True) for part in unclear)  # left out, or joined only as `unsure`
    assert manifest["counts"]["people"] == len({r["person_id"] for r in tables["people"].to_pylist()})

