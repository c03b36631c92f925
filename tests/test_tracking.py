"""Face tracks from detections: ultralytics' ByteTrack, fed our boxes (screentime.vision.tracking).

ByteTrack confirms a new track on its second frame; the track must still start at its first."""

from __future__ import annotations

import numpy as np

from screentime.vision.boxes import FaceBoxes
from screentime.vision.tracking import FaceTracker


def boxes(*xyxy: tuple[float, float, float, float], score: float = 0.95) -> FaceBoxes:
    n = len(xyxy)
    return FaceBoxes(np.array(xyxy, np.float32).reshape(n, 4), np.full(n, score, np.float32),
                     np.full((n, 5, 2), np.nan, np.float32))


def test_a_track_starts_at_its_first_detection_and_one_frame_blips_make_none():
    tracker = FaceTracker(analysis_fps=25)
    tracker.update(0, 0.0, boxes((10, 10, 60, 70)))  # the episode's first frame: confirmed at once
    tracker.cut()
    first = tracker.update(1, 0.04, boxes((300, 100, 380, 200), (600, 100, 660, 170)))
    assert (first == -1).all()  # new tracks: unconfirmed on their first frame
    second = tracker.update(2, 0.08, boxes((302, 101, 382, 201)))  # the second face was a one-frame blip
    assert second[0] >= 0
    assert tracker.confirmed == [(0, int(second[0]))]  # the first face of frame 1 is this track's
    tracker.update(3, 0.12, boxes((304, 102, 384, 202)))
    track = tracker.tracks[int(second[0])]
    assert track.frames == [1, 2, 3] and track.timestamps == [0.04, 0.08, 0.12] and track.shot == 1
    assert track.boxes[0] == [300, 100, 380, 200]
    assert len(tracker.tracks) == 2  # the blip never became a track
    assert tracker.confirmed == []  # nothing new confirmed by frame 3


def test_a_cut_forgets_a_new_face_that_was_not_confirmed_yet():
    tracker = FaceTracker(analysis_fps=25)
    tracker.update(0, 0.0, boxes())
    tracker.update(1, 0.04, boxes((300, 100, 380, 200)))  # unconfirmed ...
    tracker.cut()  # ... and the shot ends
    ids = tracker.update(2, 0.08, boxes((300, 100, 380, 200)))
    assert (ids == -1).all() and tracker.confirmed == [] and tracker.tracks == {}
