import cv2
import numpy as np
import pytest

from screentime.vision.boxes import iou_matrix
from screentime.vision.detectors import RetinaFaceOnnx, RetinaFaceTorch, load_detector

# Measured by looking at the first carphone frame: the man's face spans x 65-112, y 35-96.
CARPHONE_FACE = np.array([[65, 35, 112, 96]], np.float32)


def first_frames(path, n):
    cap = cv2.VideoCapture(str(path))
    frames = [cap.read()[1] for _ in range(n)]
    cap.release()
    return frames


@pytest.fixture(scope="module")
def onnx_detector():
    return load_detector("retinaface", "cpu")


def test_face_lands_on_the_measured_box(onnx_detector, carphone):
    (faces,) = onnx_detector.detect(first_frames(carphone, 1), 1.0, 0.5)
    assert len(faces) == 1
    assert iou_matrix(faces.xyxy, CARPHONE_FACE)[0, 0] > 0.85
    assert faces.score[0] > 0.9
    eyes = faces.landmarks[0, :2]
    assert np.all((eyes[:, 0] > 65) & (eyes[:, 0] < 112) & (eyes[:, 1] > 35) & (eyes[:, 1] < 75))


def test_scaled_input_gives_boxes_in_source_pixels(onnx_detector, cap13):
    frame = first_frames(cap13, 1)[0]
    (full,) = onnx_detector.detect([frame], 1.0, 0.5)
    half = cv2.resize(frame, (200, 150), interpolation=cv2.INTER_AREA)
    (scaled,) = onnx_detector.detect([half], 0.5, 0.5)
    assert len(full) == len(scaled) == 1
    assert iou_matrix(full.xyxy, scaled.xyxy)[0, 0] > 0.8


def test_no_face_when_the_face_is_blanked(onnx_detector, cap13):
    frame = first_frames(cap13, 1)[0]
    (faces,) = onnx_detector.detect([frame], 1.0, 0.5)
    x1, y1, x2, y2 = faces.xyxy[0].astype(int)
    blanked = frame.copy()
    blanked[max(0, y1 - 40):y2 + 40, max(0, x1 - 40):x2 + 40] = 0
    (none,) = onnx_detector.detect([blanked], 1.0, 0.5)
    assert len(none) == 0


def test_batches_give_the_same_faces_as_single_frames(onnx_detector, cap13):
    frames = first_frames(cap13, 6)
    batched = onnx_detector.detect(frames, 1.0, 0.5)
    for frame, faces in zip(frames, batched, strict=False):
        (single,) = onnx_detector.detect([frame], 1.0, 0.5)
        np.testing.assert_allclose(faces.xyxy, single.xyxy, atol=0.5)


def test_torch_backend_matches_onnxruntime(cap13):
    """The CUDA path's module (converted from the same ONNX graph), checked here on the CPU."""
    frames = first_frames(cap13, 4)
    reference = RetinaFaceOnnx(threads=1).detect(frames, 1.0, 0.5)
    converted = RetinaFaceTorch("cpu").detect(frames, 1.0, 0.5)
    for a, b in zip(reference, converted, strict=False):
        assert len(a) == len(b) == 1
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=0.1)
        np.testing.assert_allclose(a.score, b.score, atol=1e-4)


def test_detector_info_names_model_and_weights(onnx_detector):
    info = onnx_detector.info.as_dict()
    assert info["name"] == "retinaface-mobilenet0.25"
    assert len(info["weights_sha256"]) == 64
    assert "onnxruntime" in info["backend"]
