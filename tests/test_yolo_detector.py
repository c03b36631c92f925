"""The `yolo` detector option, wired end to end with a local weights file.

No face weights ship offline, so the test builds an untrained YOLO11n from ultralytics' own model
config (nothing is downloaded) and saves it: its boxes are meaningless, but the path a user's
trained face model takes (local file, predict on the scaled frames, boxes back in source pixels,
weights checksum in the manifest) is the real one.
"""

import hashlib

import pytest

from screentime.analysis.checks import boxes_outside_frame
from screentime.analysis.episode import analyze_episode
from screentime.contracts.episode import parse_episode_id
from screentime.contracts.options import RunOptions
from screentime.storage import LocalStorage
from screentime.vision.video import probe_video


@pytest.fixture(scope="module")
def yolo_weights(tmp_path_factory):
    from ultralytics import YOLO

    path = tmp_path_factory.mktemp("yolo") / "face_untrained.pt"
    YOLO("yolo11n.yaml").save(str(path))
    return path


def test_yolo_weights_run_through_the_pipeline(yolo_weights, cap13, tmp_path):
    info = probe_video(cap13)
    options = RunOptions(detector="yolo", detector_weights=str(yolo_weights), det_size=320, fps=2,
                         min_score=0.0001, save_crops=False)
    analysis = analyze_episode(parse_episode_id("yolo-s01e01"), info, "run1", options, LocalStorage(tmp_path))
    assert analysis.detector.name == "yolo:face_untrained.pt"
    assert analysis.detector.weights_sha256 == hashlib.sha256(yolo_weights.read_bytes()).hexdigest()
    assert analysis.counts.frames_analyzed == 62
    assert analysis.detections.num_rows > 0  # an untrained model still emits low-score boxes
    assert boxes_outside_frame(analysis.detections, info.width, info.height) == 0


def test_missing_yolo_weights_are_a_clear_error(cap13, tmp_path):
    from screentime.contracts.errors import InvalidOption

    options = RunOptions(detector="yolo", detector_weights=str(tmp_path / "missing.pt"))
    with pytest.raises(InvalidOption, match="never downloaded"):
        analyze_episode(parse_episode_id("yolo-s01e01"), probe_video(cap13), "run1", options, LocalStorage(tmp_path))


def test_yolo_runs_at_the_size_of_the_input_it_is_given(yolo_weights, cap13):
    """The small-face rule hands a detector larger inputs for some shots: a fixed imgsz would shrink
    them back down."""
    import cv2

    from screentime.vision.detectors import load_detector

    capture = cv2.VideoCapture(str(cap13))
    ok, frame = capture.read()
    capture.release()
    assert ok
    detector = load_detector("yolo", "cpu", str(yolo_weights))
    for size in ((320, 240), (400, 300), (200, 150)):
        detector.detect([cv2.resize(frame, size)], size[0] / frame.shape[1], 0.0001)
        assert max(detector.model.predictor.imgsz) == 32 * -(-size[0] // 32)  # padded to the stride
