"""Detect less, track more: between full passes, the faces of a shot of small faces follow the picture
by optical flow, and only the strips of new picture at the frame's edges are detected
(screentime/vision/flow.py, screentime/vision/regions.py).

The schedule, the strips, the flow and the frame-by-frame driver are plain state: they are driven
here with "faces" that are textured squares (random noise on black, so the flow has texture to
follow) and a detector that finds them, so every box is known; then a real pan over a wall of
group photos (made from tests/media/group_shots.mp4) is analysed with the defaults against the
full-size detector.
"""

from __future__ import annotations

import cv2
import numpy as np

from screentime.vision.boxes import FaceBoxes, iou_matrix
from screentime.vision.flow import CameraMotion, FaceFlow
from screentime.vision.regions import (
    BOTTOM,
    GRID_PX,
    LEFT,
    REVEAL_PX,
    RIGHT,
    STRIP_CONTEXT_PX,
    STRIP_FACE_FACTOR,
    TOP,
    FullPassSchedule,
    RegionPlan,
    add_new,
    detect_regions,
    keep_expected,
    plan_strips,
)
from screentime.vision.small_faces import COARSE, FINE, FOLLOWED, DetectorInputs, SmallFacePolicy, detect_frames
from screentime.vision.video import SampledFrame

NOISE = np.random.default_rng(7).integers(40, 256, (400, 400, 3), dtype=np.uint8)  # never black


class PatchDetector:
    """Finds the non-black squares (any size), in source pixels; records each call's (images, size, scale)."""

    def __init__(self, score: float = 0.9):
        self.calls = []
        self.score = score

    def detect(self, images, scale, min_score):
        self.calls.append((len(images), images[0].shape[:2], scale))
        out = []
        for image in images:
            count, _, stats, _ = cv2.connectedComponentsWithStats((image.max(axis=2) > 20).astype(np.uint8))
            x, y, w, h = (stats[1:, k].astype(np.float32) for k in range(4))
            xyxy = np.column_stack([x, y, x + w, y + h]).reshape(-1, 4) / scale
            score = np.full(count - 1, self.score, np.float32)
            keep = score >= min_score
            out.append(FaceBoxes(xyxy[keep], score[keep], np.zeros((int(keep.sum()), 5, 2), np.float32)))
        return out


def frame_with(patches, index=0, size=(1280, 720)) -> SampledFrame:
    """Textured squares (x, y, side; each its own noise, by its place in NOISE) on black."""
    image = np.zeros((size[1], size[0], 3), np.uint8)
    for k, (x, y, side) in enumerate(patches):
        x0, y0, x1, y1 = max(0, x), max(0, y), min(size[0], x + side), min(size[1], y + side)
        if x1 > x0 and y1 > y0:
            u, v = 37 * k % 300, 53 * k % 300
            image[y0:y1, x0:x1] = NOISE[v + y0 - y:v + y1 - y, u + x0 - x:u + x1 - x]
    return SampledFrame(index, index / 25, image, cv2.resize(image, (320, 180), interpolation=cv2.INTER_AREA))


def boxes(patches) -> np.ndarray:
    return np.array([[x, y, x + s, y + s] for x, y, s in patches], np.float32).reshape(-1, 4)


def faces_at(patches, score=0.9) -> FaceBoxes:
    n = len(patches)
    return FaceBoxes(boxes(patches), np.full(n, score, np.float32), np.zeros((n, 5, 2), np.float32))


def test_the_schedule_follows_only_between_full_passes_of_a_shot_above_det_size():
    s = FullPassSchedule(every=4)
    assert not s.follow_due(1)  # a shot's first frame: no full pass yet
    s.full_pass(rung=1)
    assert s.follow_due(1)
    assert s.followed(kept=10, lost=0) and s.followed(kept=9, lost=1)
    assert s.follow_due(1)  # 3 frames since the full pass
    assert s.followed(kept=10, lost=0)
    assert not s.follow_due(1)  # the 4th: a full pass is due
    s.full_pass(rung=1)
    assert not s.followed(kept=8, lost=2)  # the flow lost faces (they turned, were covered): this frame in full
    s.full_pass(rung=1)
    assert not s.follow_due(0)  # det_size shots are always detected in full
    assert not s.follow_due(2)  # the shot climbed above its last full pass: a full pass at once
    s.start_shot()
    assert not s.follow_due(1)  # a cut: never across it
    off = FullPassSchedule(every=1)
    off.full_pass(rung=1)
    assert not off.enabled and not off.follow_due(1)


def test_an_edges_strip_is_due_each_time_enough_new_picture_came_in_there():
    s = FullPassSchedule(every=8)
    s.full_pass(rung=1)
    assert s.reveal((0, 0, REVEAL_PX / 2, 1)) == []
    assert s.reveal((0, 0, REVEAL_PX / 2, 1)) == [RIGHT]
    s.looked([RIGHT])
    assert s.revealed[RIGHT] == 0 and s.revealed[BOTTOM] == 2  # the others keep counting
    s.full_pass(rung=1)
    assert not s.revealed.any()  # a full pass saw the whole frame


def test_the_camera_motion_says_where_new_picture_comes_in():
    assert CameraMotion(1.0, -6.0, 0.0).revealed(1280, 720) == (0.0, 0.0, 6.0, 0.0)  # panning right
    left, top, right, bottom = CameraMotion(0.98, 12.8, 7.2).revealed(1280, 720)  # zooming out about the centre
    assert np.allclose([left, top, right, bottom], [12.8, 7.2, 12.8, 7.2])


def test_strips_hold_the_new_picture_and_a_face_on_the_detectors_grid():
    revealed = np.array([0.0, 0.0, 20.0, 17.0])
    plans = plan_strips([RIGHT, BOTTOM], revealed, 40.0, 1.0, (1280, 720))
    assert len(plans) == 2  # one canvas of upright strips, one of lying ones
    (right,), (bottom,) = plans[0].regions, plans[1].regions
    depth = 20 + STRIP_FACE_FACTOR * 40 + STRIP_CONTEXT_PX
    assert right[2] == 1280 and right[0] % GRID_PX == 0 and 1280 - right[0] >= depth
    assert bottom[3] == 720 and bottom[1] % GRID_PX == 0 and 720 - bottom[1] >= depth
    assert plans[0].pixels + plans[1].pixels < 0.25 * 1280 * 720
    both = plan_strips([LEFT, RIGHT, TOP], np.full(4, 16.0), 30.0, 0.5, (640, 360))  # at a 640 input
    assert [len(p.regions) for p in both] == [2, 1]
    assert both[0].places[1][0] % GRID_PX == 0 and both[0].places[1][0] >= both[0].regions[0][2] + GRID_PX
    assert both[0].regions[0][2] <= GRID_PX * np.ceil((16 + STRIP_FACE_FACTOR * 30 + STRIP_CONTEXT_PX) * 0.5 / GRID_PX)


def test_a_strip_keeps_a_face_cut_by_the_frames_edge_but_not_one_cut_by_its_own():
    frame = frame_with([(1262, 300, 30), (1200, 100, 30), (1000, 500, 30), (700, 400, 30)])
    plan = RegionPlan([(1216, 0, 1280, 720)], [(0, 0)], (64, 720))
    found = detect_regions(PatchDetector(), frame.image, plan, 1.0, 0.5)
    # in the strip: the face half out of the frame; across the strip's inner edge (1216): dropped
    assert found.xyxy.tolist() == [[1262, 300, 1280, 330]]


def test_a_full_pass_keeps_a_low_score_face_only_where_one_was_followed():
    found = FaceBoxes(boxes([(100, 100, 30), (300, 100, 30), (500, 100, 30)]), np.array([0.9, 0.4, 0.4], np.float32),
                      np.zeros((3, 5, 2), np.float32))
    kept = keep_expected(found, faces_at([(302, 101, 30)]), 0.5)
    assert kept.xyxy.tolist() == boxes([(100, 100, 30), (300, 100, 30)]).tolist()
    together = add_new(faces_at([(100, 100, 30), (500, 100, 30)]), faces_at([(103, 100, 30), (900, 100, 30)]))
    assert together.xyxy.tolist() == boxes([(500, 100, 30), (103, 100, 30), (900, 100, 30)]).tolist()  # one box
    #                                                                      a face, the detector's where it saw it


def test_faces_follow_the_picture_and_a_covered_one_is_lost():
    patches = [(100, 100, 30), (400, 300, 24), (800, 200, 40), (1200, 600, 32)]
    flow = FaceFlow(1280, 720)
    flow.remember(frame_with(patches).image, faces_at(patches))
    moved = [(x + 6, y - 3, s) for x, y, s in patches]
    followed = flow.follow(frame_with(moved).image)
    assert followed.lost == 0 and len(followed.faces) == 4
    assert np.abs(followed.faces.xyxy - boxes(moved)).max() < 1.0  # to the pixel
    motion = followed.motion
    assert abs(motion.dx - 6) < 0.5 and abs(motion.dy + 3) < 0.5 and abs(motion.zoom - 1) < 0.02
    gone = [(x + 12, y - 6, s) for x, y, s in patches[:3]]  # the 4th is covered (black)
    followed = flow.follow(frame_with(gone).image)
    assert followed.lost == 1 and len(followed.faces) == 3
    flow.forget()
    assert len(flow.follow(frame_with(gone).image).faces) == 0  # after a cut: nothing to follow


def test_a_zoom_is_followed():
    flow = FaceFlow(1280, 720)
    image = cv2.resize(NOISE, (200, 200))
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[260:460, 540:740] = image
    flow.remember(frame, faces_at([(560, 280, 60)]))
    bigger = np.zeros_like(frame)
    bigger[250:470, 530:750] = cv2.resize(image, (220, 220))  # 1.1x about (640, 360)
    (x1, y1, x2, y2), = flow.follow(bigger).faces.xyxy
    assert abs((x2 - x1) - 66) < 2 and abs((x1 + x2) / 2 - (640 + 1.1 * (590 - 640))) < 1.5


def test_frames_between_full_passes_are_followed_and_a_new_face_inside_waits_for_the_next_full_pass():
    """A shot of small faces (16 px: full size at det_size 320) panning right 6 px a frame: a probe,
    then followed frames, a full pass every 8 frames. A face appearing mid-frame at frame 2 is found
    by the full pass at frame 8; one coming in at the right edge with the pan is found by a strip of
    the new picture before that, whole once it is whole in the frame."""
    inputs = DetectorInputs.for_video(1280, 720, 320)

    def at(i):
        known = [(100 - 6 * i, 100, 16), (600 - 6 * i, 300, 16)]
        inside = [(900 - 6 * i, 500, 16)] if i >= 2 else []
        return known + inside + [(1290 - 6 * i, 650, 16)]  # the entering one: whole in the frame from frame 5

    frames = [frame_with(at(i), i) for i in range(9)]
    detector, schedule = PatchDetector(), FullPassSchedule(every=8)
    policy, flow = SmallFacePolicy(inputs.scales, 16), FaceFlow(1280, 720)
    seen, hows = [], []
    for faces, how in detect_frames(detector, frames, [True] + [False] * 8, policy, inputs, 0.5, schedule, flow):
        seen.append(faces)
        hows.append(how)
    assert hows == [FINE] + [FOLLOWED] * 7 + [FINE]

    def found(i, patch) -> bool:
        return bool(len(seen[i]) and iou_matrix(boxes([patch]), seen[i].xyxy).max() >= 0.7)

    assert all(found(i, p) for i in range(9) for p in at(i)[:2])  # the known faces, followed to the pixel
    assert not any(found(i, (900 - 6 * i, 500, 16)) for i in range(2, 8)) and found(8, (900 - 48, 500, 16))
    assert found(7, (1290 - 42, 650, 16)) and found(8, (1290 - 48, 650, 16))  # the entering one, by a strip
    full = 1 + 1  # the probe and the full pass at frame 8
    assert len(detector.calls) > full and all(scale == 1.0 for _, _, scale in detector.calls)
    assert all(size[1] < 1280 for _, size, _ in detector.calls[1:-1])  # strips, never the whole frame between

    # With every=1 every frame is detected whole, as before.
    p = SmallFacePolicy(inputs.scales, 16)
    assert [h for _, h in detect_frames(PatchDetector(), frames[:4], [True, False, False, False], p, inputs, 0.5,
                                        FullPassSchedule(every=1), FaceFlow(1280, 720))] == [FINE] * 4


def test_a_cut_ends_the_following_and_det_size_shots_never_follow():
    inputs = DetectorInputs.for_video(1280, 720, 320)
    small = [frame_with([(100 + i, 100, 16)], i) for i in range(3)]
    large = [frame_with([(300, 200, 200)], i) for i in range(3, 6)]  # a close-up: det_size
    hows = [how for _, how in detect_frames(PatchDetector(), small + large, [True, False, False, True, False, False],
                                            SmallFacePolicy(inputs.scales, 16), inputs, 0.5, FullPassSchedule(every=8),
                                            FaceFlow(1280, 720))]
    assert hows == [FINE, FOLLOWED, FOLLOWED, FINE, COARSE, COARSE]  # the probe at the cut, then det_size


def test_a_pan_over_a_wall_of_group_photos_keeps_the_full_size_detectors_faces(group_shots, tmp_path):
    """The first 40 frames of the bench's 10 s pan, over the top row of the wall only (about 8
    faces of 20-50 px, 1280x720): at the defaults (on the CPU a full pass every 8 frames) most frames are followed
    between full passes, keeping what the full-size detector finds, in about as many tracks."""
    from tests.pan_clip import CELL_H, compose_wall, photos_from_group_shots, render_pan, write_mjpg
    from tests.test_small_faces import analyse, kept

    wall = compose_wall(*photos_from_group_shots(group_shots))
    wall[CELL_H:] = wall[-1, 0]  # the lower rows: bare backdrop
    video = write_mjpg(render_pan(wall, 40, 250), tmp_path / "wall.avi")
    full = analyse(video, tmp_path, det_size=0)
    assert full.detections.num_rows > 40 * 6
    ours = analyse(video, tmp_path)
    every = analyse(video, tmp_path, full_detect_every=1)
    counts = ours.counts
    assert counts.frames_followed > 20 and counts.frames_fine + counts.frames_followed == counts.frames_analyzed
    assert every.counts.frames_followed == 0
    assert kept(full, ours) >= 0.97
    assert counts.tracks <= full.counts.tracks * 1.2
    assert ours.options.full_detect_every == 0 and every.options.full_detect_every == 1


def test_auto_follows_on_the_cpu_and_detects_every_frame_on_cuda():
    from screentime.analysis.episode import CPU_FULL_DETECT_EVERY, full_detect_every

    assert full_detect_every(0, "cpu") == CPU_FULL_DETECT_EVERY == 8
    assert full_detect_every(0, "cuda:0") == 1  # a batch of full frames is cheaper there than the CPU's flow
    assert full_detect_every(4, "cuda:0") == 4 and full_detect_every(1, "cpu") == 1  # as asked
