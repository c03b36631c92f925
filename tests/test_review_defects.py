"""Defects found on review, each pinned by a test that failed before its fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import dagster as dg
import numpy as np

from screentime.analysis import episode as analysis_module
from screentime.analysis.checks import boxes_mostly_outside, tracks_outside_episode
from screentime.analysis.episode import analyze_episode
from screentime.contracts.episode import parse_episode_id
from screentime.contracts.names import EPISODE_JOB, PARTITION_TAG
from screentime.contracts.options import RunOptions
from screentime.storage import LocalStorage
from screentime.vision.boxes import FaceBoxes
from screentime.vision.video import probe_video
from tests.dagster_helpers import local_defs, run_episode_job

EP = "carphone-s01e01"


def failure_message(result) -> str:
    error = next(e for e in result.all_events if e.is_step_failure).event_specific_data.error
    while error.cause is not None:
        error = error.cause
    return error.message
MANIFEST = "artifacts/manifests/carphone/s01/e01/manifest.json"


def test_boxes_mostly_outside_counts_wrong_coordinates_not_border_overshoot():
    boxes = np.array([[-3, -2, 40, 50],        # a few pixels past the border: fine
                      [150, 100, 260, 200],     # 176x144 frame: mostly outside
                      [10, 10, 10, 30]], np.float32)  # degenerate
    assert boxes_mostly_outside(boxes, 176, 144) == 2


def test_the_boxes_check_catches_a_detector_in_the_wrong_coordinates(carphone, tmp_path, monkeypatch):
    real = analysis_module.load_detector

    class WrongCoordinates:  # boxes 3x too large, as a detector that forgot to rescale would give
        def __init__(self, detector):
            self.detector, self.info = detector, detector.info

        def detect(self, images, scale, min_score):
            return [FaceBoxes(f.xyxy * 3, f.score, f.landmarks * 3)
                    for f in self.detector.detect(images, scale, min_score)]

    def scaled_detector(*args, **kwargs):  # a wrapper: the real detector may be cached and shared
        return WrongCoordinates(real(*args, **kwargs))

    ep, source = parse_episode_id("test-s01e01"), probe_video(carphone)
    good = analyze_episode(ep, source, "run1", RunOptions(fps=5, save_crops=False), LocalStorage(tmp_path / "a"))
    assert good.boxes_outside == 0
    monkeypatch.setattr(analysis_module, "load_detector", scaled_detector)
    bad = analyze_episode(ep, source, "run2", RunOptions(fps=5, save_crops=False), LocalStorage(tmp_path / "b"))
    assert bad.boxes_outside >= bad.frames.num_rows  # before: clipping hid every one of them


def test_tracks_check_uses_the_decoded_length_when_the_container_under_reports(carphone, tmp_path):
    lying = replace(probe_video(carphone), frame_count=60)  # the container claims half the frames
    analysis = analyze_episode(parse_episode_id("test-s01e01"), lying, "run1", RunOptions(save_crops=False),
                               LocalStorage(tmp_path))
    assert analysis.frames_decoded == 120 and analysis.episode_frames == 120
    assert tracks_outside_episode(analysis.tracks, analysis.episode_frames) == 0
    assert tracks_outside_episode(analysis.tracks, lying.frame_count) == 1  # what the check read before


def test_manifests_alone_refuses_to_publish_another_runs_tables(data_dir, instance, carphone):
    defs = local_defs(data_dir)
    first = run_episode_job(defs, instance, EP, carphone, fps=10)
    assert first.success
    alone = dg.materialize([*defs.assets], selection="manifests", instance=instance, partition_key=EP,
                           resources=defs.resources, raise_on_error=False)
    assert not alone.success
    assert "publishes the analysis of its own run" in failure_message(alone)
    assert json.loads((data_dir / MANIFEST).read_text())["run_id"] == first.run_id


def test_a_second_run_of_a_busy_episode_stops_before_writing(data_dir, instance, carphone):
    defs = local_defs(data_dir)
    job = defs.resolve_job_def(EPISODE_JOB)
    busy = instance.create_run_for_job(job, tags={PARTITION_TAG: EP}, status=dg.DagsterRunStatus.STARTED)
    second = run_episode_job(defs, instance, EP, carphone, fps=10)
    assert not second.success
    assert f"already being analysed by run {busy.run_id}" in failure_message(second)
    assert not (data_dir / "artifacts").exists()  # no tables, no JPEGs, no progress record
    instance.report_run_canceled(busy)
    assert run_episode_job(defs, instance, EP, carphone, fps=10).success  # free again


def test_two_cli_runs_of_one_episode_started_together_never_overlap(tmp_path, carphone):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "SCREENTIME_DATA_DIR": str(tmp_path / "data"),
           "STORAGE_BACKEND": "local"}
    exe = os.path.join(os.path.dirname(sys.executable), "screentime")
    args = [exe, "run", str(carphone), "--ep-id", EP, "--save-frames", "--quiet"]
    subprocess.run([exe, "run", str(carphone), "--ep-id", "carphone-s01e09", "--fps", "1", "--quiet"],
                   env=env, capture_output=True, check=True, timeout=300)  # the instance exists before the race
    procs = [subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 1], results
    loser = next(err for code, err in results if code == 1)
    assert "already being analysed by run" in loser
    manifest = json.loads((tmp_path / "data" / MANIFEST).read_text())
    frames = (tmp_path / "data/artifacts/frames/carphone/s01/e01" / manifest["run_id"])
    assert len(list(frames.glob("*.jpg"))) == manifest["counts"]["frames_saved"] == 120
