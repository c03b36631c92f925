"""Shot boundaries on the real clips, as the pipeline samples them: every frame and every 3rd."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from screentime.vision.shots import SHOTS_SCHEMA, Shot, ShotDetector, shots_table
from screentime.vision.video import FrameReader, probe_video

GROUP_CUTS = [75, 125, 175, 225, 275, 325, 375, 425, 475]  # tests/media/README.md
BIKES_CUTS = [30, 76, 137, 187, 242]


def first_sampled(cuts: list[int], step: int) -> list[int]:
    """Where a cut is seen when frame i is kept for i % step == 0: the new shot's first sample."""
    return [c + (-c) % step for c in cuts]


class Pass:
    """One decoding pass over a clip, feeding a detector per sampling step, like the pipeline."""

    def __init__(self, path: Path, keep: tuple[int, ...] = ()):
        self.info = probe_video(path)
        self.detectors = {1: ShotDetector(), 3: ShotDetector()}
        self.returned = {1: [], 3: []}
        self.frames: dict[int, np.ndarray] = {}
        for frame in FrameReader(self.info, 0, det_size=640):
            for step, detector in self.detectors.items():
                if frame.index % step:
                    continue
                if detector.update(frame.index, frame.timestamp_s, frame.det_image):
                    self.returned[step].append(frame.index)
            if frame.index in keep:
                self.frames[frame.index] = frame.det_image


@pytest.fixture(scope="module")
def group_pass(group_shots) -> Pass:
    return Pass(group_shots, keep=(100, 150, 250))


@pytest.fixture(scope="module")
def bikes(group_shots) -> Path:
    """640x272, 25 fps, 250 frames, 5 hard cuts (tests/media/README.md; newer than ../shared/media)."""
    for folder in (group_shots.parent, Path(__file__).resolve().parent / "media"):
        if (folder / "bikes.mp4").is_file():
            return folder / "bikes.mp4"
    pytest.fail("test clip bikes.mp4 is missing (see tests/media/README.md)")


@pytest.mark.parametrize("step", [1, 3])
def test_every_cut_of_group_shots_is_found_at_the_new_shots_first_frame(group_pass, step):
    detector = group_pass.detectors[step]
    assert group_pass.returned[step] == first_sampled(GROUP_CUTS, step)
    assert detector.cuts == first_sampled(GROUP_CUTS, step)
    assert detector.shot == len(GROUP_CUTS)


def test_cuts_between_moving_shots_are_found_and_moving_cars_are_not_cuts(bikes):
    """bikes.mp4: a fast pan, cars passing close to the camera, walking legs; 5 hard cuts."""
    run = Pass(bikes)
    for step in (1, 3):
        assert run.returned[step] == first_sampled(BIKES_CUTS, step), step


@pytest.mark.parametrize("clip", ["cap13", "carphone"])
def test_a_single_shot_with_head_movement_has_no_cut(clip, request):
    run = Pass(request.getfixturevalue(clip))
    for step in (1, 3):
        assert run.returned[step] == [], step
        assert run.detectors[step].shot == 0
        [shot] = run.detectors[step].shots(run.info.fps, run.info.frame_count)
        assert (shot.first_frame, shot.last_frame) == (0, run.info.frame_count - 1)


@pytest.mark.parametrize("step", [1, 3])
def test_the_shots_table_tiles_the_episode(group_pass, step):
    info = group_pass.info
    shots = group_pass.detectors[step].shots(info.fps, info.frame_count)
    table = shots_table(shots)
    assert table.schema == SHOTS_SCHEMA
    rows = table.to_pylist()
    assert [r["shot"] for r in rows] == list(range(len(GROUP_CUTS) + 1))
    assert [r["first_frame"] for r in rows] == [0, *first_sampled(GROUP_CUTS, step)]
    assert rows[0]["start_s"] == 0.0
    assert rows[-1]["last_frame"] == info.frame_count - 1
    assert rows[-1]["end_s"] == pytest.approx(info.frame_count / info.fps)
    for row, nxt in pairwise(rows):
        assert nxt["first_frame"] == row["last_frame"] + 1  # no gap, no overlap
        assert nxt["start_s"] == row["end_s"]
    for row in rows:
        assert row["first_frame"] <= row["last_frame"]
        assert row["start_s"] == pytest.approx(row["first_frame"] / info.fps)
        assert row["end_s"] == pytest.approx((row["last_frame"] + 1) / info.fps)


def test_first_frame_starts_shot_zero_and_frames_must_come_in_order(group_pass):
    frame = group_pass.frames[100]
    detector = ShotDetector()
    assert detector.shots(25.0) == []
    assert detector.update(12, 0.48, frame) is False  # the first frame is not a cut
    assert detector.shot == 0 and detector.cuts == []
    # Shot 0 runs from the episode's start even when sampling began later.
    assert detector.shots(25.0) == [Shot(0, 0, 12, 0.0, 13 / 25.0)]
    with pytest.raises(ValueError, match="in order"):
        detector.update(12, 0.48, frame)


def test_cuts_closer_than_the_minimum_shot_length_are_ignored(group_pass):
    """Two real close-ups of different people, switching every 0.2 s: cuts at most every 0.5 s."""
    a, b = group_pass.frames[100], group_pass.frames[150]
    detector = ShotDetector(min_shot_s=0.5)
    cuts = [i for i in range(50) if detector.update(i, i / 25.0, a if (i // 5) % 2 == 0 else b)]
    assert cuts == [15, 30, 45]  # switches at 5, 10, 15, ...: the first 0.5 s or more into a shot
    assert ShotDetector(min_shot_s=0.0).update(0, 0.0, a) is False


def test_lighting_changes_are_not_cuts(group_pass):
    """A real frame brightening and darkening: gradually, and abruptly by a third."""
    frame = group_pass.frames[250].astype(np.float32)
    detector = ShotDetector()
    gains = [*np.linspace(0.6, 1.2, 30), 0.8, 0.8, 1.1, 1.1, 0.75]
    for i, gain in enumerate(gains):
        assert not detector.update(i, i / 25.0, np.clip(frame * gain + 10, 0, 255).astype(np.uint8)), i


def test_plain_frames_are_no_cut_but_a_picture_after_black_is(group_pass):
    detector = ShotDetector(min_shot_s=0.0)
    black = np.zeros_like(group_pass.frames[100])
    assert [detector.update(i, i / 25.0, black) for i in range(3)] == [False, False, False]
    assert detector.update(3, 3 / 25.0, group_pass.frames[100]) is True
    assert detector.update(4, 4 / 25.0, black) is True


def test_settings_are_checked():
    for bad in ({"threshold": 0.0}, {"threshold": 1.5}, {"min_shot_s": -1}, {"grid": (0, 2)},
                {"thumb_width": 8}, {"max_shift": -1}):
        with pytest.raises(ValueError):
            ShotDetector(**bad)
    assert ShotDetector().settings["threshold"] == 0.3


def test_empty_table_has_the_schema():
    table = shots_table([])
    assert table.num_rows == 0 and table.schema == SHOTS_SCHEMA
    assert isinstance(table, pa.Table)
