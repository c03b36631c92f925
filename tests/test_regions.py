"""Detect less, track more: between full passes, shots of small faces are detected only on regions
around the faces the tracker expects (screentime/vision/regions.py).

The schedule, the regions and the frame-by-frame driver are plain state: they are driven here with
a detector that finds white squares, so every box is known; then a real pan over a wall of group
photos (made from tests/media/group_shots.mp4) is analysed with the defaults against the
full-size detector.
"""

from __future__ import annotations

import cv2
import numpy as np

from screentime.vision.boxes import FaceBoxes
from screentime.vision.regions import (
    CONTEXT_PX,
    GRID_PX,
    RegionSchedule,
    detect_regions,
    plan_regions,
)
from screentime.vision.small_faces import COARSE, FINE, REGIONS, DetectorInputs, SmallFacePolicy, detect_frames
from screentime.vision.video import SampledFrame


class SquareDetector:
    """Finds white squares (any size), in source pixels; records each call's (images, size, scale)."""

    def __init__(self):
        self.calls = []

    def detect(self, images, scale, min_score):
        self.calls.append((len(images), images[0].shape[:2], scale))
        out = []
        for image in images:
            count, _, stats, _ = cv2.connectedComponentsWithStats((image[..., 0] > 200).astype(np.uint8))
            x, y, w, h = (stats[1:, k].astype(np.float32) for k in range(4))
            xyxy = np.column_stack([x, y, x + w, y + h]).reshape(-1, 4) / scale
            out.append(FaceBoxes(xyxy, np.full(count - 1, 0.9, np.float32), np.zeros((count - 1, 5, 2), np.float32)))
        return out


def frame_with(squares, index=0, size=(1280, 720)) -> SampledFrame:
    image = np.zeros((size[1], size[0], 3), np.uint8)
    for x, y, side in squares:
        image[y:y + side, x:x + side] = 255
    return SampledFrame(index, index / 25, image, cv2.resize(image, (320, 180), interpolation=cv2.INTER_AREA))


def boxes(squares) -> np.ndarray:
    return np.array([[x, y, x + s, y + s] for x, y, s in squares], np.float32).reshape(-1, 4)


def test_the_schedule_puts_regions_only_between_full_passes_of_a_shot_above_det_size():
    s = RegionSchedule(every=4)
    assert not s.regions_due(1)  # a shot's first frame: no full pass yet
    s.full_pass(rung=1)
    assert not s.regions_due(1)  # nor the second: the tracker has not seen its faces move
    s.full_pass(rung=1)
    assert s.regions_due(1)
    s.regions_pass(found=10, expected=10)
    s.regions_pass(found=9, expected=10)
    assert s.regions_due(1)  # 3 frames since the full pass
    s.regions_pass(found=10, expected=10)
    assert not s.regions_due(1)  # the 4th: a full pass is due
    s.full_pass(rung=1)
    s.regions_pass(found=8, expected=10)
    assert not s.regions_due(1)  # regions that lose faces (fast motion): a full pass at once
    s.full_pass(rung=1)
    assert not s.regions_due(0)  # det_size shots are always detected in full
    assert not s.regions_due(2)  # the shot climbed above its last full pass: a full pass at once
    s.start_shot()
    assert not s.regions_due(1)  # a cut: never across it
    off = RegionSchedule(every=1)
    off.full_pass(rung=1)
    assert not off.enabled and not off.regions_due(1)


def test_regions_hold_each_expected_face_with_context_on_the_detectors_grid():
    expected = boxes([(100, 100, 30), (140, 104, 30), (900, 500, 40), (1275, 300, 30), (-50, 10, 30)])
    plan = plan_regions(expected, 1.0, (1280, 720))
    assert len(plan.regions) == 2  # two neighbours are one region; a box that left the frame has none
    for x0, y0, _, _ in plan.regions:
        assert x0 % GRID_PX == 0 and y0 % GRID_PX == 0
    for box in expected[:3]:  # every face inside, with its context
        assert any(x0 <= box[0] - CONTEXT_PX and y0 <= box[1] - CONTEXT_PX and box[2] + CONTEXT_PX <= x1
                   and box[3] + CONTEXT_PX <= y1 for x0, y0, x1, y1 in plan.regions)
    assert plan.size[0] <= 1280 and plan.pixels < 0.1 * 1280 * 720
    for (x, y) in plan.places:
        assert x % GRID_PX == 0 and y % GRID_PX == 0  # same phase on the canvas as in the frame
    assert plan_regions(np.zeros((0, 4)), 1.0, (1280, 720)).pixels == 0
    half = plan_regions(expected[:1], 0.5, (640, 360))  # at a 640 input: the box is halved first
    assert half.regions[0][2] <= (100 + 30) * 0.5 + CONTEXT_PX + GRID_PX


def test_regions_find_the_expected_faces_in_source_pixels_and_nothing_elsewhere():
    faces = [(100, 100, 30), (600, 300, 24), (1000, 600, 36)]
    frame = frame_with([*faces, (400, 500, 30)])  # a 4th face nobody expects
    detector = SquareDetector()
    plan = plan_regions(boxes(faces) + 4, 1.0, (1280, 720))  # predictions a little off
    found = detect_regions(detector, frame.image, plan, 1.0, 0.5)
    assert detector.calls == [(1, (plan.size[1], plan.size[0]), 1.0)]  # one canvas, one call
    assert sorted(found.xyxy.tolist()) == sorted(boxes(faces).tolist())


def test_a_box_cut_by_a_regions_edge_is_dropped_but_one_cut_by_the_frames_edge_is_kept():
    frame = frame_with([(200, 200, 30), (0, 400, 20)])
    plan = plan_regions(boxes([(200, 200, 30), (0, 400, 20)]), 1.0, (1280, 720))
    (x0, y0, x1, y1) = plan.regions[0]
    frame.image[y0:y1, x1 - 5:x1 + 20] = 255  # something white across the region's right edge
    found = detect_regions(SquareDetector(), frame.image, plan, 1.0, 0.5)
    assert sorted(found.xyxy.tolist()) == sorted(boxes([(200, 200, 30), (0, 400, 20)]).tolist())


def test_a_face_the_tracker_expects_is_kept_below_min_score_but_a_new_one_is_not():
    class Scored(SquareDetector):
        def detect(self, images, scale, min_score):
            out = super().detect(images, scale, min_score)
            return [FaceBoxes(f.xyxy, np.full(len(f), 0.4, np.float32), f.landmarks) for f in out
                    if min_score <= 0.4] or [FaceBoxes.empty()]

    frame = frame_with([(100, 100, 30), (160, 100, 30)])
    expected = boxes([(100, 100, 30)])
    plan = plan_regions(boxes([(100, 100, 30), (160, 100, 30)]), 1.0, (1280, 720))
    found = detect_regions(Scored(), frame.image, plan, 1.0, 0.5, expected)
    assert found.xyxy.tolist() == expected.tolist()
    assert len(detect_regions(Scored(), frame.image, plan, 1.0, 0.5)) == 0


def test_frames_between_full_passes_go_to_regions_and_a_new_face_waits_for_the_next_full_pass():
    """A shot of small faces (16 px: full size at det_size 320): a probe, then regions around what
    the 'tracker' expects, a full pass every 4 frames; a face entering at frame 2 is found at 5."""
    inputs = DetectorInputs.for_video(1280, 720, 320)
    known, newcomer = [(100, 100, 16), (600, 300, 16)], (900, 500, 16)
    frames = [frame_with(known + ([newcomer] if i >= 2 else []), i) for i in range(9)]
    detector, schedule = SquareDetector(), RegionSchedule(every=4)
    policy = SmallFacePolicy(inputs.scales, 16)
    seen = []

    def predicted():  # the tracker: what the last frame found, where it was
        return seen[-1].xyxy

    hows = []
    for faces, how in detect_frames(detector, frames, [True] + [False] * 8, policy, inputs, 0.5, schedule, predicted):
        seen.append(faces)
        hows.append(how)
    assert hows == [FINE, FINE, REGIONS, REGIONS, REGIONS, FINE, REGIONS, REGIONS, REGIONS]
    assert [len(f) for f in seen] == [2, 2, 2, 2, 2, 3, 3, 3, 3]  # the newcomer: at the next full pass
    assert all(scale == 1.0 for _, _, scale in detector.calls)  # at the shot's input (full size)

    # Without predictions (or every=1) every frame is detected whole, as before.
    p = SmallFacePolicy(inputs.scales, 16)
    assert [h for _, h in detect_frames(SquareDetector(), frames[:4], [True, False, False, False], p, inputs, 0.5,
                                        RegionSchedule(every=4))] == [FINE] * 4


def test_a_cut_ends_the_regions_and_det_size_shots_never_use_them():
    inputs = DetectorInputs.for_video(1280, 720, 320)
    small = [frame_with([(100, 100, 16)], i) for i in range(3)]
    large = [frame_with([(300, 200, 200)], i) for i in range(3, 6)]  # a close-up: det_size
    seen, hows = [], []
    for faces, how in detect_frames(SquareDetector(), small + large, [True, False, False, True, False, False],
                                    SmallFacePolicy(inputs.scales, 16), inputs, 0.5, RegionSchedule(every=8),
                                    lambda: seen[-1].xyxy):
        seen.append(faces)
        hows.append(how)
    assert hows == [FINE, FINE, REGIONS, FINE, COARSE, COARSE]  # the probe at the cut, then det_size


def test_the_tracker_predicts_where_a_moving_face_will_be():
    from screentime.vision.tracking import FaceTracker

    tracker = FaceTracker(25)
    for i in range(6):
        x = 100 + 10 * i
        tracker.update(i, i / 25, FaceBoxes(boxes([(x, 100, 40)]), np.ones(1, np.float32), np.zeros((1, 5, 2))))
    (x1, y1, x2, y2), = tracker.predicted()
    assert 153 < x1 < 165 and abs(y1 - 100) < 3 and abs(x2 - x1 - 40) < 3  # ahead of the last box (150)
    tracker.cut()
    assert len(tracker.predicted()) == 0


def test_a_pan_over_a_wall_of_group_photos_keeps_the_full_size_detectors_faces(group_shots, tmp_path):
    """The first 40 frames of the bench's 10 s pan, over the top row of the wall only (about 8
    faces of 20-50 px, 1280x720): with full_detect_every 8, most frames are detected on regions
    between full passes, keeping what the full-size detector finds, in about as many tracks."""
    from tests.pan_clip import CELL_H, compose_wall, photos_from_group_shots, render_pan, write_mjpg
    from tests.test_small_faces import analyse, kept

    wall = compose_wall(*photos_from_group_shots(group_shots))
    wall[CELL_H:] = wall[-1, 0]  # the lower rows: bare backdrop
    video = write_mjpg(render_pan(wall, 40, 250), tmp_path / "wall.avi")
    full = analyse(video, tmp_path, det_size=0)
    assert full.detections.num_rows > 40 * 6
    ours = analyse(video, tmp_path, full_detect_every=8)
    every = analyse(video, tmp_path)  # the default: every frame in full
    counts = ours.counts
    assert counts.frames_regions > 20 and counts.frames_fine + counts.frames_regions == counts.frames_analyzed
    assert every.counts.frames_regions == 0
    assert kept(full, ours) >= 0.95
    assert counts.tracks <= full.counts.tracks * 1.2
    assert ours.options.full_detect_every == 8 and every.options.full_detect_every == 1
