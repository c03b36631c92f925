"""The episode job, materialised for real on a temporary Dagster instance."""

import json

import pyarrow.parquet as pq

from screentime.contracts.episode import parse_episode_id
from screentime.contracts.layout import EpisodeLayout
from screentime.progress.store import ProgressStore
from screentime.storage import LocalStorage
from tests.conftest import artifact_files
from tests.dagster_helpers import local_defs, run_episode_job

EP = "carphone-s01e01"


def manifest(data_dir):
    return json.loads((data_dir / "artifacts/manifests/carphone/s01/e01/manifest.json").read_text())


def test_materialises_every_asset_and_a_complete_manifest(data_dir, instance, carphone):
    result = run_episode_job(local_defs(data_dir), instance, EP, carphone, save_frames=True)
    assert result.success
    m = manifest(data_dir)
    assert m["ep_id"] == EP and m["run_id"] == result.run_id
    assert m["counts"]["frames_analyzed"] == 120 and m["counts"]["detections"] == 120
    assert m["counts"]["tracks"] == 1 and m["counts"]["frames_saved"] == 120 and m["counts"]["crops_saved"] == 4
    assert m["source"]["width"] == 176 and m["source"]["frame_count"] == 120
    assert m["device"] == "cpu" and m["detector"]["name"] == "retinaface-mobilenet0.25"
    assert m["tracker"]["name"] == "bytetrack" and m["timings"]["fps"] > 0
    assert set(m["artifacts"]) == {"frames", "crops", "manifests"}
    assert m["options"]["save_frames"] is True and "created_at" in m

    run_dir = data_dir / f"artifacts/manifests/carphone/s01/e01/{result.run_id}"
    detections = pq.read_table(run_dir / "detections.parquet")
    assert detections.num_rows == 120 and set(detections["track_id"].to_pylist()) <= {-1, 1}
    assert pq.read_table(run_dir / "tracks.parquet").num_rows == 1

    materialized = {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}
    assert materialized == {"frames", "detections", "tracks", "crops", "shots", "faces", "embeddings", "people",
                            "screentime", "manifests"}
    # one man on screen the whole clip: one person, ~4.0 s (120 frames at 29.97 fps)
    assert m["counts"]["people"] == 1 and m["counts"]["shots"] == 1
    screentime = pq.read_table(run_dir / "screentime.parquet").to_pylist()
    assert len(screentime) == 1 and screentime[0]["person_id"] == 1 and screentime[0]["appearances"] == 1
    assert abs(screentime[0]["seconds"] - 4.0) < 0.05 and screentime[0]["share"] > 0.99
    assert screentime[0]["crop"].endswith(".jpg")
    people = pq.read_table(run_dir / "people.parquet")
    assert people.select(["track_id", "part", "first_frame", "last_frame", "person_id", "unsure",
                          "nearest_person"]).to_pylist() == [
        {"track_id": 1, "part": 0, "first_frame": 0, "last_frame": 119, "person_id": 1, "unsure": False,
         "nearest_person": -1}]  # nobody else to be confused with
    checks = check_records(instance)
    assert set(checks) == {"boxes_inside_frame", "tracks_within_episode", "every_track_one_person",
                           "within_episode_length"}
    assert all(r.status.value == "SUCCEEDED" and r.partition == EP for records in checks.values() for r in records)


def check_records(instance) -> dict:
    """Each episode check's evaluations on the instance (the assets report them: assets/checks.py)."""
    from screentime.pipelines.definitions import defs

    return {key.name: instance.event_log_storage.get_asset_check_execution_history(key, limit=10)
            for key in defs.resolve_asset_graph().asset_check_keys}


def test_a_failed_run_leaves_the_checks_as_they_were_not_execution_failed(data_dir, instance, carphone,
                                                                          truncated_video):
    assert run_episode_job(local_defs(data_dir), instance, EP, carphone).success
    before = check_records(instance)
    failed = run_episode_job(local_defs(data_dir), instance, EP, truncated_video)
    assert not failed.success
    after = check_records(instance)
    assert after == before  # nothing planned in the failed run, so nothing "Execution failed"
    assert all(len(records) == 1 and records[0].status.value == "SUCCEEDED" for records in after.values())


def test_rerun_replaces_rather_than_duplicates(data_dir, instance, carphone):
    defs = local_defs(data_dir)
    first = run_episode_job(defs, instance, EP, carphone, save_frames=True)
    second = run_episode_job(defs, instance, EP, carphone, save_frames=False, fps=10)
    assert first.success and second.success
    files = artifact_files(data_dir)
    assert not any(first.run_id in f for f in files)  # the earlier run's frames, crops, tables: gone
    assert not any(f.startswith("artifacts/frames/") for f in files)  # this run saved no frames
    assert manifest(data_dir)["run_id"] == second.run_id
    assert manifest(data_dir)["counts"]["frames_analyzed"] == 40


def test_progress_is_written_and_ends_done_with_the_manifest_counts(data_dir, instance, carphone):
    result = run_episode_job(local_defs(data_dir), instance, EP, carphone)
    store = ProgressStore(LocalStorage(data_dir))
    history = store.history(parse_episode_id(EP))
    assert history and all(r.run_id == result.run_id for r in history)
    assert [r.seq for r in history] == sorted({r.seq for r in history})
    ratios = [r.ratio for r in history]
    assert ratios == sorted(ratios) and ratios[-1] == 1.0
    latest = store.latest(parse_episode_id(EP))
    assert latest.phase == "done" and latest.counts.model_dump() == manifest(data_dir)["counts"]
    assert latest.eta_seconds == 0


def test_corrupt_video_fails_the_run_and_keeps_the_previous_manifest(data_dir, instance, carphone,
                                                                      truncated_video):
    defs = local_defs(data_dir)
    good = run_episode_job(defs, instance, EP, carphone)
    bad = run_episode_job(defs, instance, EP, truncated_video)
    assert good.success and not bad.success
    assert manifest(data_dir)["run_id"] == good.run_id
    latest = ProgressStore(LocalStorage(data_dir)).latest(parse_episode_id(EP))
    assert latest.phase == "error" and latest.error_type == "VideoError"
    assert "not a readable video" in latest.error


def test_video_found_under_the_videos_root(data_dir, instance, carphone, tmp_path, monkeypatch):
    videos = tmp_path / "videos" / "carphone"
    videos.mkdir(parents=True)
    (videos / "s01e01.mp4").write_bytes(carphone.read_bytes())
    monkeypatch.setenv("SCREENTIME_VIDEOS_DIR", str(tmp_path / "videos"))
    result = run_episode_job(local_defs(data_dir), instance, EP, "", fps=5)
    assert result.success
    assert manifest(data_dir)["source"]["path"].endswith("carphone/s01e01.mp4")
    assert EpisodeLayout(parse_episode_id(EP)).manifest_key in artifact_files(data_dir)

