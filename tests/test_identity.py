"""Who is on screen, on real clips: tracks end at cuts, tracks grouped into people, screen time,
and people across a show (stable ids and names through re-runs)."""

from __future__ import annotations

import dagster as dg
import pyarrow.parquet as pq

from screentime.analysis.episode import analyze_episode
from screentime.contracts.episode import parse_episode_id
from screentime.contracts.names import SHOWS
from screentime.contracts.options import RunOptions
from screentime.contracts.people import Identity
from screentime.identity.embedders import load_embedder
from screentime.identity.episode import embed_tracks, group_episode
from screentime.identity.registry import load_registry, save_registry
from screentime.identity.screen_time import FrameSeconds, screen_time_table
from screentime.identity.show_rollup import update_show
from screentime.storage import LocalStorage
from screentime.vision.video import probe_video
from tests.dagster_helpers import local_defs, run_episode_job

# group_shots.mp4 (tests/media/README.md): which photo each shot shows; None = the mosaic of all six
SHOT_PHOTOS = [(0, None), (75, 1), (125, 4), (175, None), (225, 2), (275, 1), (325, 5), (375, 3), (425, 6),
               (475, 4)]
PEOPLE_PER_PHOTO = {1: 3, 2: 3, 3: 3, 4: 4, 5: 5, 6: 4}


def photo_at(frame: int) -> int | None:
    return [photo for first, photo in SHOT_PHOTOS if first <= frame][-1]


def test_no_track_crosses_a_cut(group_people):
    analysis, _, _ = group_people
    cuts = [first for first, _ in SHOT_PHOTOS[1:]]
    for track in analysis.tracks.to_pylist():
        assert not any(track["first_frame"] < cut <= track["last_frame"] for cut in cuts), track
    assert {s["first_frame"] for s in analysis.shots.to_pylist()} >= {0, *cuts}  # every real cut found


def test_people_follow_faces_across_shots_and_rarely_mix_photos(group_people):
    analysis, _, people = group_people
    photos_of: dict[int, set] = {}
    for part in people.to_pylist():
        photos_of.setdefault(part["person_id"], set()).add(photo_at(part["first_frame"]))
    assert 20 <= len(photos_of) <= 24  # 22 people (issue 19's target: 22 +- 2)
    # The grouping threshold is set for different photos of one person (bench/calibrate_identity.py),
    # so two look-alikes of two photos may meet: photo 2's and photo 4's dark-haired women are 0.32-0.40
    # apart, where one person's photos run 0.30-0.55 (dlib puts them as close). At most that one.
    mixed = [person for person, photos in photos_of.items() if len(photos - {None}) > 1]
    assert len(mixed) <= 1, {p: photos_of[p] for p in mixed}
    for person in mixed:
        assert photos_of[person] - {None} <= {2, 4}, photos_of[person]
    # everyone of photo 1 is one person in both of its close shots and in the mosaic shots
    photo1 = [p for p, photos in photos_of.items() if 1 in photos]
    assert len(photo1) == PEOPLE_PER_PHOTO[1]
    shots_of = {p: {photo_at(r["first_frame"]) for r in people.to_pylist() if r["person_id"] == p} for p in photo1}
    for person in photo1:
        firsts = {r["first_frame"] for r in people.to_pylist() if r["person_id"] == person}
        assert any(75 <= f < 125 for f in firsts) and any(275 <= f < 325 for f in firsts), (person, firsts)
        assert None in shots_of[person]  # also in a mosaic shot


def test_two_faces_on_screen_together_are_never_one_person(group_people):
    analysis, _, people = group_people
    person_of = {(r["track_id"]): r["person_id"] for r in people.to_pylist()}
    seen: dict[tuple[int, int], int] = {}
    for det in analysis.detections.select(["frame_index", "track_id"]).to_pylist():
        if det["track_id"] not in person_of:  # unconfirmed (-1), or too unclear to judge and left out
            continue
        key = (det["frame_index"], person_of[det["track_id"]])
        assert key not in seen or seen[key] == det["track_id"], f"person {key[1]} twice in frame {key[0]}"
        seen[key] = det["track_id"]


def test_screen_time_is_the_union_of_a_persons_frames(group_people):
    analysis, _, people = group_people
    table = screen_time_table(analysis.detections, people, analysis.crops,
                              FrameSeconds(analysis.frames, analysis.analysis_fps),
                              analysis.source.duration_s).to_pylist()
    assert [r["seconds"] for r in table] == sorted((r["seconds"] for r in table), reverse=True)
    for row in table:
        assert 0 < row["seconds"] <= analysis.source.duration_s and 0 < row["share"] <= 1
        assert row["first_seen_s"] <= row["last_seen_s"]
    total_face_frames = sum(r["seconds"] for r in table) * analysis.analysis_fps
    assert total_face_frames <= analysis.detections.num_rows + 1e-6  # one frame counts once per person


def test_one_person_talking_for_the_whole_clip(cap13, tmp_path):
    analysis = analyze_episode(parse_episode_id("cap-s01e01"), probe_video(cap13), "run1",
                               RunOptions(fps=5, save_crops=False), LocalStorage(tmp_path))
    embeddings, stats = embed_tracks(analysis.faces, analysis.tracks, load_embedder())
    people = group_episode(embeddings, analysis.detections)
    table = screen_time_table(analysis.detections, people, analysis.crops,
                              FrameSeconds(analysis.frames, analysis.analysis_fps),
                              analysis.source.duration_s).to_pylist()
    assert len(table) == 1 and abs(table[0]["seconds"] - 30.6) < 0.5, table
    assert stats.faces <= 3 * analysis.tracks.num_rows  # a few chips per track, not every face


def test_a_show_keeps_its_people_and_their_names_through_reruns(data_dir, instance, carphone):
    defs = local_defs(data_dir)
    storage = LocalStorage(data_dir)
    for ep in ("carphone-s01e01", "carphone-s01e02"):
        assert run_episode_job(defs, instance, ep, carphone, fps=10).success
    summary = update_show(storage, "carphone")
    registry = load_registry(storage, "carphone")
    assert summary.relinked == ["carphone-s01e01", "carphone-s01e02"] and len(registry.identities) == 1
    registry.identities[1] = Identity(id=1, name="The Driver")
    save_registry(storage, registry, registry.version, by="test", reason="named person 1")
    assert run_episode_job(defs, instance, "carphone-s01e01", carphone, fps=5).success  # a re-run, new tracks
    summary = update_show(storage, "carphone")
    registry = load_registry(storage, "carphone")
    assert summary.relinked == ["carphone-s01e01"] and list(registry.identities) == [1]
    assert registry.identity_of("carphone-s01e01", 1).name == "The Driver"
    table = pq.read_table(data_dir / "artifacts/people/carphone/screentime.parquet").to_pylist()
    assert {(r["ep_id"], r["name"]) for r in table} == {("carphone-s01e01", "The Driver"),
                                                          ("carphone-s01e02", "The Driver")}
    assert all(abs(r["seconds"] - 4.0) < 0.2 for r in table)
    # the show roll-up as Dagster materialises it (the sensor's job), with the registry unchanged
    instance.add_dynamic_partitions(SHOWS, ["carphone"])
    result = dg.materialize([a for a in defs.assets if "show_people" in str(a.keys)], instance=instance,
                            partition_key="carphone", resources=defs.resources)  # (conftest's instance: see there)
    assert result.success and load_registry(storage, "carphone").version == registry.version
