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
    assert m["device"] == "cpu" and m["decoder"] == "pyav on cpu"  # the CPU default decoder, recorded
    assert m["detector"]["name"] == "retinaface-mobilenet0.25"
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
    """Each episode check's executions on the instance, newest first (Dagster records them)."""
    from screentime.pipelines.definitions import defs

    return {key.name: instance.event_log_storage.get_asset_check_execution_history(key, limit=10)
            for key in defs.resolve_asset_graph().asset_check_keys}


def test_a_failed_run_leaves_its_checks_unevaluated_never_failed(data_dir, instance, carphone, truncated_video):
    """The checks are in the episode job's plan, so Dagster records each as planned for a run; one
    that fails before their assets are materialised evaluates none of them. Dagster shows such a
    check "Execution failed" for that episode (it did not run), never "Failed" (its data was found
    wrong): the good run's evaluations stay as they were, and the CLI names no failed check."""
    from screentime.assets.checks import failed_checks

    good = run_episode_job(local_defs(data_dir), instance, EP, carphone)
    assert good.success
    failed = run_episode_job(local_defs(data_dir), instance, EP, truncated_video)
    assert not failed.success and not failed_checks(failed.all_events)
    for records in check_records(instance).values():
        assert [(r.run_id, r.status.value, r.partition) for r in records] == [
            (failed.run_id, "PLANNED", EP), (good.run_id, "SUCCEEDED", EP)]


def test_one_more_check_is_one_declaration_run_by_the_episode_job(data_dir, instance, carphone):
    """A check declared with `episode_check`, as the real ones are, and nothing else: the episode job
    plans it, Dagster runs it after its asset and records its result for the episode."""
    import dagster as dg

    from screentime.assets import checks

    declared = list(checks.EPISODE_CHECKS)
    try:
        @checks.episode_check("shots", "Every analysed frame is in a shot; the manifest counts them.")
        def shots_counted(shots, run):
            return run.manifest.counts.shots == shots.num_rows > 0, {"shots": shots.num_rows}

        defs = local_defs(data_dir)
    finally:
        checks.EPISODE_CHECKS[:] = declared
    result = run_episode_job(defs, instance, EP, carphone)
    assert result.success
    [evaluation] = [e.event_specific_data for e in result.all_events
                    if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.check_name ==
                    "shots_counted"]
    assert evaluation.passed and evaluation.metadata["shots"].value == 1
    key = dg.AssetCheckKey(dg.AssetKey("shots"), "shots_counted")
    assert [(r.run_id, r.status.value, r.partition)
            for r in instance.event_log_storage.get_asset_check_execution_history(key, limit=5)] == [
        (result.run_id, "SUCCEEDED", EP)]
    assert {check.check_key.name for check in checks.EPISODE_CHECKS} == {
        "boxes_inside_frame", "tracks_within_episode", "every_track_one_person", "within_episode_length"}


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



def test_tables_made_again_later_go_beside_their_analysis_whatever_their_metadata(data_dir, instance, carphone):
    """Which run folder a table goes to comes from the episode run (the analysis recorded on its
    `frames` materialisation, then the published manifest), never from the table: no table carries
    routing facts, and people made again in a later run replace the file beside their analysis."""
    import dagster as dg

    defs = local_defs(data_dir)
    first = run_episode_job(defs, instance, EP, carphone)
    assert first.success
    run_dir = data_dir / f"artifacts/manifests/carphone/s01/e01/{first.run_id}"
    for table in run_dir.glob("*.parquet"):
        assert not any(key.startswith(b"screentime") for key in (pq.read_schema(table).metadata or {})), table
    again = dg.materialize([*defs.assets], selection=["people", "screentime"], instance=instance, partition_key=EP,
                           resources=defs.resources)
    assert again.success
    episode_dir = run_dir.parent
    assert not (episode_dir / again.run_id).exists()  # no folder of its own: beside the analysis
    people = pq.read_table(run_dir / "people.parquet")
    assert people.num_rows == 1 and manifest(data_dir)["run_id"] == first.run_id
    keys = {e.asset_key.to_user_string(): e.materialization.metadata["storage_key"].value
            for e in again.get_asset_materialization_events()}
    assert keys == {name: f"artifacts/manifests/carphone/s01/e01/{first.run_id}/{name}.parquet"
                    for name in ("people", "screentime")}
