"""Small faces: shots whose faces are too small for det_size are detected at a larger input.

The policy is driven directly (plain state); then a real pan over 24-27 px faces, made from the
group photos in tests/media, is analysed with the defaults and must keep what the full-size
detector finds, where det_size alone loses four faces in ten or more.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from screentime.vision.small_faces import DetectorInputs, SmallFacePolicy, face_sizes, fine_size, input_ladder


def test_fine_input_is_full_size_for_hd_and_bounded_for_4k_and_8k():
    assert fine_size(1280, 720, 640) == 0  # full size
    assert fine_size(720, 1280, 640) == 0  # portrait too
    assert fine_size(3840, 2160, 640) == 1920
    assert fine_size(7680, 4320, 640) == 1920
    assert fine_size(3840, 2160, 1920) == 1920  # nothing finer to go to: the policy is off
    assert fine_size(1280, 720, 0) == 0 and fine_size(640, 360, 640) == 640


def test_the_ladder_doubles_det_size_up_to_the_finest_input():
    assert input_ladder(1280, 720, 320) == [320, 640, 0]  # 0: the source size
    assert input_ladder(1280, 720, 640) == [640, 0]
    assert input_ladder(1920, 1080, 320) == [320, 640, 1280, 0]
    assert input_ladder(3840, 2160, 320) == [320, 640, 1280, 1920]
    assert input_ladder(1280, 720, 0) == [0] and input_ladder(640, 360, 640) == [640]
    inputs = DetectorInputs.for_video(1280, 720, 320)
    assert inputs.scales == (0.25, 0.5, 1.0) and inputs.sizes == ((320, 180), (640, 360), (1280, 720))
    assert inputs.largest == (1280, 720)


def policy(px: float = 16) -> SmallFacePolicy:
    return SmallFacePolicy(scales=(0.5, 1.0), small_face_px=px)  # 1280x720 detected at 640, then full size


def test_a_shot_starts_with_a_probe_and_stays_coarse_when_faces_are_big():
    p = policy()
    assert p.start_shot()  # probe the shot's first frame
    p.observe(np.array([80.0, 60.0]), rung_used=1)  # 40 and 30 px at the coarse scale
    p.observe(np.array([70.0]), rung_used=0)
    assert not p.fine and p.probes == 1


def test_small_faces_make_the_shot_fine_until_the_next_cut():
    p = policy()
    p.start_shot()
    p.observe(np.array([80.0, 26.0]), rung_used=1)  # 13 px at the coarse scale: under 16
    assert p.fine
    p.observe(np.zeros(0), rung_used=1)  # no faces: nothing learnt, the shot stays fine
    assert p.fine
    p.start_shot()  # a cut forgets the last shot ...
    p.observe(np.zeros(0), rung_used=1)  # ... and an empty probe leaves the new one coarse
    assert not p.fine


def test_a_small_face_in_a_coarse_frame_makes_the_rest_of_the_shot_fine():
    p = policy()
    p.start_shot()
    p.observe(np.array([90.0]), rung_used=1)
    assert not p.fine
    p.observe(np.array([90.0, 28.0]), rung_used=0)  # the camera pulled back
    assert p.fine


def test_a_fine_shot_goes_coarse_only_when_every_face_is_comfortably_big():
    p = policy()
    p.start_shot()
    p.observe(np.array([20.0]), rung_used=1)
    p.observe(np.array([40.0]), rung_used=1)  # 20 px: over 16 but under 1.5 x 16, stays fine
    assert p.fine
    p.observe(np.array([50.0, 60.0]), rung_used=1)  # 25 px and up: back to det_size
    assert not p.fine


def test_a_shot_climbs_only_as_far_as_its_smallest_face_needs():
    p = SmallFacePolicy(scales=(0.25, 0.5, 1.0), small_face_px=16)  # 1280x720 at 320, 640, full size
    p.start_shot()
    p.observe(np.array([44.0, 200.0]), rung_used=2)  # 11 px at 320, 22 at 640: the 640 rung
    assert p.rung == 1
    p.observe(np.array([44.0]), rung_used=1)  # 22 px at 640: stays (11 at 320 is not comfortable)
    assert p.rung == 1
    p.observe(np.array([30.0]), rung_used=1)  # 15 px at 640: full size
    assert p.rung == 2
    p.observe(np.array([60.0]), rung_used=1)  # seen at a rung below the shot's: cannot bring it down
    assert p.rung == 2
    p.observe(np.array([60.0]), rung_used=2)  # 30 px at 640 (>= 24): down to 640, not to 320 (15 px)
    assert p.rung == 1
    p.observe(np.array([100.0, 120.0]), rung_used=1)  # 25 px at 320: back to det_size
    assert p.rung == 0 and not p.fine


def test_a_held_shot_never_comes_down_below_its_floor_until_the_cut():
    p = SmallFacePolicy(scales=(0.25, 0.5, 1.0), small_face_px=16)
    p.start_shot()
    p.observe(np.array([220.0]), rung_used=2)  # 55 px at 320: sizes alone say det_size
    assert p.rung == 0
    p.hold(1)  # ... but the face was found only at 640
    assert p.rung == 1 and p.floor == 1
    p.observe(np.array([220.0]), rung_used=1)  # comfortably big at 320: stays at 640 all the same
    assert p.rung == 1
    p.observe(np.array([30.0]), rung_used=1)  # a small face still makes it climb
    assert p.rung == 2
    p.observe(np.array([220.0]), rung_used=2)  # and come down, to the floor only
    assert p.rung == 1
    p.start_shot()  # the next shot starts from det_size
    assert p.rung == 0 and p.floor == 0


def salley_frames(count: int, det_size: int = 320, side: int = 260) -> list:
    """A 1280x720 shot in the style of the identity clips: a real photo (dlib's examples/johns, public
    domain) shown `side` px tall over a blurred, dimmed copy of itself. At 260 px RetinaFace finds
    this clear face with a score of 1.00 at 640 px and at full size, and not at all at 320."""
    from conftest import MEDIA

    from screentime.vision.video import SampledFrame, detector_input_size, detector_scale, resize_for_detector

    photo = cv2.imread(str(MEDIA / "john_salley_000200.jpg"))
    assert photo is not None, "tests/media/john_salley_000200.jpg is missing"
    small = cv2.GaussianBlur(cv2.resize(photo, (160, 90), interpolation=cv2.INTER_AREA), (0, 0), 25 / 8,
                             borderType=cv2.BORDER_REFLECT)
    frames = []
    for i in range(count):
        image = cv2.resize(small, (1280, 720), interpolation=cv2.INTER_LINEAR) // 2
        shown = side + 2 * i  # the identity clips' slow zoom
        image[220:220 + shown, 660:660 + shown] = cv2.resize(photo, (shown, shown), interpolation=cv2.INTER_AREA)
        det = resize_for_detector(image, detector_input_size(1280, 720, det_size), detector_scale(1280, 720, det_size))
        frames.append(SampledFrame(i, i / 25, image, det))
    return frames


def test_a_shot_is_detected_at_an_input_that_finds_the_faces_its_probe_was_sure_of(group_shots):
    """Size is not enough: 55 px at 320 is far above small_face_px, yet 320 finds nothing here."""
    from screentime.vision.small_faces import rung_finding

    inputs = DetectorInputs.for_video(1280, 720, 320)
    frames = salley_frames(4)
    detector = RecordingDetector()
    assert len(inputs.detect(detector, frames[:1], 0, 0.5)[0]) == 0  # the miss this guards against
    p = SmallFacePolicy(inputs.scales, 16)
    results, fine = detect_all(detector, frames, [True, False, False, False], p, inputs, 0.5)
    assert all(len(faces) == 1 and faces.score[0] > 0.9 for faces in results)  # every frame has the face
    assert p.rung == 1 and fine == 4  # at 640, the lowest input that finds it
    # the check itself: one det_size pass when det_size finds the probe's sure faces, none without any
    close = real_frames(group_shots, 100, 1, det_size=320)
    p = SmallFacePolicy(inputs.scales, 16)
    p.start_shot()
    probe = inputs.detect(detector, close, p.finest, 0.5)[0]
    p.observe(face_sizes(probe), rung_used=p.finest)
    detector.calls.clear()
    assert rung_finding(detector, close[0], probe, p, inputs, 0.5) == 0 and detector.calls == [(1, 0.25)]
    assert rung_finding(detector, close[0], probe[probe.score < 0], p, inputs, 0.5) == 0 and len(detector.calls) == 1


def test_a_face_found_too_weakly_to_start_a_track_makes_the_shot_climb():
    """Found is not enough: shown 90 px tall beside its 500 px blurred copy, the face scores 1.00 at
    full size but 0.56 at 640, a detection kept (min_score 0.5) that never starts a track
    (new_track_thresh 0.7), so the shot would have no one on screen. Its shot goes to full size."""
    from screentime.vision.small_faces import TRACKABLE_SCORE, rung_finding

    inputs = DetectorInputs.for_video(1280, 720, 320)
    frames = salley_frames(4, side=90)
    detector = RecordingDetector()
    at_640 = inputs.detect(detector, frames[:1], 1, 0.5)[0]
    weak = at_640.score[(at_640.xyxy[:, 2] - at_640.xyxy[:, 0]) < 150]  # the face, not its copy
    assert len(weak) == 1 and 0.5 <= weak[0] < TRACKABLE_SCORE  # the case this guards against
    p = SmallFacePolicy(inputs.scales, 16)
    p.start_shot()
    probe = inputs.detect(detector, frames[:1], p.finest, 0.5)[0]
    p.observe(face_sizes(probe), rung_used=p.finest)
    assert p.rung < p.finest  # the size alone would not go to full size
    assert rung_finding(detector, frames[0], probe, p, inputs, 0.5) == p.finest
    results, _ = detect_all(detector, frames, [True, False, False, False], SmallFacePolicy(inputs.scales, 16),
                            inputs, 0.5)
    assert all(((faces.xyxy[:, 2] - faces.xyxy[:, 0] < 150) & (faces.score >= TRACKABLE_SCORE)).sum() == 1
               for faces in results)  # every frame has the face, trackable


@pytest.mark.parametrize("p", [policy(px=0), SmallFacePolicy(scales=(1.0,), small_face_px=16)])
def test_the_policy_is_off_at_zero_or_when_det_size_is_the_source_size(p):
    assert not p.start_shot()
    p.observe(np.array([4.0]), rung_used=0)
    assert not p.fine and p.probes == 0


class RecordingDetector:
    """The real detector, with a record of each call's (frames, scale)."""

    def __init__(self):
        from screentime.vision.detectors import load_detector

        self.detector, self.calls = load_detector("retinaface", "cpu"), []

    def detect(self, images, scale, min_score):
        self.calls.append((len(images), scale))
        return self.detector.detect(images, scale, min_score)


def real_frames(video, first: int, count: int, det_size: int = 640):
    """`count` frames of a 1280x720 video from `first`, with their det_size detector copies."""
    from screentime.vision.video import SampledFrame

    capture = cv2.VideoCapture(str(video))
    capture.set(cv2.CAP_PROP_POS_FRAMES, first)
    frames = []
    for i in range(count):
        ok, image = capture.read()
        assert ok
        frames.append(SampledFrame(first + i, (first + i) / 25, image,
                                   cv2.resize(image, (det_size, det_size * 9 // 16), interpolation=cv2.INTER_AREA)))
    capture.release()
    return frames


def detect_all(*args) -> tuple[list, int]:
    """`detect_frames` run through: each frame's faces, and how many were detected above det_size."""
    from screentime.vision.small_faces import FINE, detect_frames

    detected = list(detect_frames(*args))
    return [faces for faces, _ in detected], sum(how == FINE for _, how in detected)


def test_a_batch_is_cut_at_the_shot_start_and_the_rest_follows_the_probe(group_shots, tmp_path):
    """Real frames, real detector: a pan over 24-27 px faces, and group_shots' close shot (frame 100)."""
    from screentime.vision.small_faces import DetectorInputs
    detect_frames = detect_all

    inputs = DetectorInputs.for_video(1280, 720, 640)
    pan = real_frames(pan_over_small_faces(group_shots, tmp_path / "pan.avi"), 0, 4)
    detector = RecordingDetector()
    results, fine = detect_frames(detector, pan, [False, True, False, False], policy(), inputs, 0.5)
    assert detector.calls == [(1, 0.5), (1, 1.0), (2, 1.0)] and fine == 3  # old shot coarse, probe, fine
    assert all(len(faces) > 10 for faces in results[1:])  # the small faces, found at full size

    close = real_frames(group_shots, 100, 4)
    detector, p = RecordingDetector(), policy()
    results, fine = detect_frames(detector, close, [True, False, False, False], p, inputs, 0.5)
    # the probe at full size, its frame again at 640 (its sure faces are found there), then 640
    assert detector.calls == [(1, 1.0), (1, 0.5), (3, 0.5)] and fine == 1 and len(results) == 4
    assert all(len(faces) >= 1 for faces in results)
    assert detect_frames(detector, close[:2], [False, False], p, inputs, 0.5)[1] == 0


def test_a_mosaic_of_40_px_faces_is_detected_at_the_middle_rung_not_at_full_size(group_shots):
    """group_shots' first shot: 22 faces at 40-45 px, so 10-11 px at 320 and 20-22 px at 640."""
    detect_frames = detect_all

    inputs = DetectorInputs.for_video(1280, 720, 320)
    detector, p = RecordingDetector(), SmallFacePolicy(inputs.scales, 16)
    mosaic = real_frames(group_shots, 0, 4, det_size=320)
    results, fine = detect_frames(detector, mosaic, [True, False, False, False], p, inputs, 0.5)
    assert detector.calls == [(1, 1.0), (1, 0.5), (3, 0.5)] and fine == 4  # the probe at full size, then 640
    assert all(len(faces) >= 20 for faces in results)


def test_a_faces_size_is_the_geometric_mean_of_its_boxs_sides():
    from screentime.vision.boxes import FaceBoxes

    faces = FaceBoxes(np.array([[0, 0, 30, 30], [10, 10, 50, 20]], np.float32), np.ones(2, np.float32),
                      np.zeros((2, 5, 2), np.float32))
    assert face_sizes(faces).tolist() == [30.0, 20.0]
    assert face_sizes(FaceBoxes.empty()).size == 0


def pan_over_small_faces(group_shots, path, frames: int = 16):
    """1280x720 MJPG: a pan over group_shots' first mosaic scaled to 60% (faces of 24-27 px)."""
    capture = cv2.VideoCapture(str(group_shots))
    ok, mosaic = capture.read()
    capture.release()
    assert ok
    small = cv2.resize(mosaic, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    canvas = np.zeros((720, 1680, 3), np.uint8)
    top = (720 - small.shape[0]) // 2
    canvas[top:top + small.shape[0], 200:200 + small.shape[1]] = small
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (1280, 720))
    for i in range(frames):
        x = 400 * i // (frames - 1)
        writer.write(np.ascontiguousarray(canvas[:, x:x + 1280]))  # a strided view can crash the MJPG writer
    writer.release()
    return path


def analyse(video, tmp_path, **options):
    from screentime.analysis.episode import analyze_episode
    from screentime.contracts.episode import parse_episode_id
    from screentime.contracts.options import RunOptions
    from screentime.storage import LocalStorage
    from screentime.vision.video import probe_video

    return analyze_episode(parse_episode_id("pan-s01e01"), probe_video(video), "run", RunOptions(
        save_crops=False, **options), LocalStorage(tmp_path / "data"))


def kept(reference, analysis) -> float:
    from screentime.vision.boxes import iou_matrix

    def by_frame(a):
        out = {}
        for row in a.detections.select(["frame_index", "x1", "y1", "x2", "y2"]).to_pylist():
            out.setdefault(row["frame_index"], []).append([row["x1"], row["y1"], row["x2"], row["y2"]])
        return {k: np.array(v, np.float32) for k, v in out.items()}

    ref, found = by_frame(reference), by_frame(analysis)
    total = sum(len(v) for v in ref.values())
    hits = sum(int((iou_matrix(v, found[k]).max(axis=1) >= 0.5).sum()) for k, v in ref.items() if k in found)
    return hits / total


def test_the_defaults_keep_the_full_size_detectors_faces_on_a_pan_over_small_faces(group_shots, tmp_path):
    video = pan_over_small_faces(group_shots, tmp_path / "pan.avi")
    full = analyse(video, tmp_path, det_size=0)
    assert full.detections.num_rows > 16 * 15  # ~19 faces a frame
    defaults = analyse(video, tmp_path)
    coarse_only = analyse(video, tmp_path, small_face_px=0)
    assert kept(full, coarse_only) < 0.8  # det_size alone loses them ...
    assert kept(full, defaults) >= 0.97  # ... the defaults keep them
    counts = defaults.counts  # every frame above det_size: in full, or followed between full passes
    assert counts.frames_fine + counts.frames_followed == counts.frames_analyzed and counts.frames_fine >= 16 / 8
    assert coarse_only.counts.frames_fine == 0 and coarse_only.counts.frames_followed == 0


def test_shots_with_bigger_faces_stay_below_full_size(group_shots, tmp_path):
    """group_shots: mosaics of 40-45 px faces (detected at 640) and close shots (at det_size): most
    frames are detected at det_size, and the mosaics keep what the full-size detector finds."""
    analysis = analyse(group_shots, tmp_path, fps=5)
    counts = analysis.counts
    assert 0 < counts.frames_fine < counts.frames_analyzed / 2
    full = analyse(group_shots, tmp_path, fps=5, det_size=0)
    assert kept(full, analysis) >= 0.97  # issue 13's goal on multi-face material
