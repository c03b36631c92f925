"""The plain pipeline function, called directly (no Dagster)."""

import cv2
import numpy as np

from screentime.analysis.episode import analyze_episode
from screentime.contracts.episode import parse_episode_id
from screentime.contracts.options import RunOptions
from screentime.storage import LocalStorage
from screentime.vision.video import probe_video
from tests.conftest import artifact_files


def run(path, tmp_path, **options):
    storage = LocalStorage(tmp_path)
    records = []
    analysis = analyze_episode(parse_episode_id("test-s01e01"), probe_video(path), "run1",
                               RunOptions(**options), storage, on_progress=records.append)
    return analysis, records, storage


def test_one_face_one_track_across_the_clip(carphone, tmp_path):
    analysis, _, _ = run(carphone, tmp_path)
    counts = analysis.counts.model_dump()
    assert counts["frames_analyzed"] == 120
    assert counts["detections"] == 120  # one face in every frame
    assert counts["tracks"] == 1
    track = analysis.tracks.to_pylist()[0]
    assert track["first_frame"] <= 1 and track["last_frame"] == 119
    assert 0.9 < track["mean_score"] <= 1.0


def test_head_movement_keeps_few_tracks_at_a_sampled_rate(cap13, tmp_path):
    analysis, _, _ = run(cap13, tmp_path, fps=5)
    assert analysis.counts.frames_analyzed == 153
    assert analysis.counts.detections >= 150
    assert 1 <= analysis.counts.tracks <= 2
    ids = np.array(analysis.detections["track_id"].to_pylist())
    assert np.mean(ids == ids[-1]) > 0.95  # nearly every detection belongs to the main track


def test_exports_are_real_jpegs_in_the_run_folder(carphone, tmp_path):
    analysis, _, storage = run(carphone, tmp_path, save_frames=True, save_crops=True, jpeg_quality=80)
    files = artifact_files(tmp_path)
    frames = [f for f in files if f.startswith("artifacts/frames/test/s01/e01/run1/frame_")]
    crops = [f for f in files if f.startswith("artifacts/crops/test/s01/e01/run1/track_0001/")]
    assert len(frames) == analysis.counts.frames_saved == 120
    assert len(crops) == analysis.counts.crops_saved == 4  # one per second of a 4 s clip
    crop = cv2.imread(str(tmp_path / crops[0]))
    assert crop is not None and 50 < crop.shape[0] < 110 and 40 < crop.shape[1] < 100
    assert analysis.counts.export_failures == 0


def test_nothing_exported_when_disabled(carphone, tmp_path):
    analysis, _, _ = run(carphone, tmp_path, save_frames=False, save_crops=False)
    assert artifact_files(tmp_path) == []
    assert analysis.counts.frames_saved == analysis.counts.crops_saved == 0


def test_progress_rises_and_is_rate_limited(cap13, tmp_path):
    _, records, _ = run(cap13, tmp_path)
    ratios = [r.ratio for r in records]
    assert ratios == sorted(ratios) and ratios[-1] == 0.999
    assert [r.seq for r in records] == list(range(1, len(records) + 1))
    assert [r.phase for r in records[:2]] == ["starting", "detecting"] and records[-1].phase == "exporting"
    # every 25 frames (batches round it up) or every second, whichever comes first: a slow, loaded
    # machine adds about one record per second of the run
    assert 765 / 40 <= len(records) <= 765 / 25 + 3 + records[-1].seconds
    assert all(r.frames_total == 765 for r in records)


def test_partly_decodable_video_finishes_and_counts_unreadable_frames(partly_decodable_video, tmp_path):
    analysis, _, _ = run(partly_decodable_video, tmp_path)
    assert analysis.counts.frames_unreadable > 0
    assert analysis.counts.frames_analyzed + analysis.counts.frames_unreadable == 765
    assert analysis.counts.detections > 0


def test_failed_exports_are_counted_and_not_listed_as_saved(carphone, tmp_path):
    """A file where the run's frames folder should be makes every frame write fail, for real."""
    blocker = tmp_path / "artifacts/frames/test/s01/e01/run1"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a folder")
    warnings = []
    analysis = analyze_episode(parse_episode_id("test-s01e01"), probe_video(carphone), "run1",
                               RunOptions(save_frames=True, save_crops=True), LocalStorage(tmp_path),
                               on_warning=warnings.append)
    counts = analysis.counts.model_dump()
    assert counts["export_failures"] == 120
    assert len(warnings) == 3 + 1 and "120 JPEG exports failed in all" in warnings[-1]  # not 120 lines
    assert counts["frames_saved"] == 0 and analysis.frames["path"].null_count == 120
    assert counts["crops_saved"] == 4  # crops go to another folder and still succeed
    assert all((tmp_path / p).is_file() for p in analysis.crops["path"].to_pylist())
