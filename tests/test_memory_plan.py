"""Frames in flight are bounded in bytes at the episode's frame size (screentime/vision/memory.py)."""

import pytest

from screentime.contracts.errors import InvalidOption
from screentime.vision.memory import DETECTOR_BYTES_PER_PIXEL, budget_bytes, plan_frames

MB = 1024 * 1024
BUDGET = 2048 * MB


def test_a_720p_episode_at_the_defaults_is_not_held_back():
    plan = plan_frames(1280, 720, 640, 360, 2, BUDGET)
    assert (plan.batch_size, plan.queue_frames, plan.capped) == (2, 4, False)


def test_a_huge_batch_on_4k_is_capped_and_the_queue_counts_bytes_not_frames():
    plan = plan_frames(3840, 2160, 3840, 2160, 256, BUDGET, save_frames=True)
    per_input = 3840 * 2160 * (3 + DETECTOR_BYTES_PER_PIXEL)  # the frame itself, and the detector's work
    assert plan.batch_size == max(1, (BUDGET // 2) // per_input) and plan.batch_size < 256
    assert "batch_size 256 capped to" in plan.warning and "SCREENTIME_FRAME_MEMORY_MB" in plan.warning
    frame = 3840 * 2160 * 3
    assert plan.queue_frames * frame <= BUDGET // 4 or plan.queue_frames == 2
    assert plan.pending_exports * frame <= BUDGET // 4 or plan.pending_exports == 2


def test_8k_at_full_size_runs_one_frame_at_a_time_and_says_what_to_change():
    plan = plan_frames(7680, 4320, 7680, 4320, 2, BUDGET, save_frames=True)
    assert (plan.batch_size, plan.queue_frames) == (1, 2)
    assert plan.pending_exports * 7680 * 4320 * 3 <= BUDGET // 4
    assert "use a det_size of 1920 or less" in plan.warning


def test_the_detectors_memory_is_counted_at_the_largest_input_the_run_may_use():
    """Shots with small faces are detected at full size (small_face_px): the batch must fit that."""
    coarse = plan_frames(3840, 2160, 640, 360, 256, BUDGET)
    fine = plan_frames(3840, 2160, 640, 360, 256, BUDGET, largest_input=(1920, 1080))
    per_input = 3840 * 2160 * 3 + 640 * 360 * 3 + 1920 * 1080 * DETECTOR_BYTES_PER_PIXEL
    assert fine.batch_size == (BUDGET // 2) // per_input < coarse.batch_size
    assert "detector input 1920x1080" in fine.warning


def test_a_gpu_budget_replaces_the_detectors_share():
    plan = plan_frames(1280, 720, 1280, 720, 256, BUDGET, detector_budget=8 * 1024 * MB)
    assert plan.batch_size == (8 * 1024 * MB) // (1280 * 720 * DETECTOR_BYTES_PER_PIXEL)  # the GPU's limit
    host_bound = plan_frames(3840, 2160, 640, 360, 256, BUDGET, detector_budget=80 * 1024 * MB)
    assert host_bound.batch_size == (BUDGET // 2) // (3840 * 2160 * 3 + 640 * 360 * 3)  # the host's frames


@pytest.mark.parametrize("value", ["100", "lots", "-1"])
def test_a_bad_budget_is_refused_with_its_name(monkeypatch, value):
    monkeypatch.setenv("SCREENTIME_FRAME_MEMORY_MB", value)
    with pytest.raises(InvalidOption, match="SCREENTIME_FRAME_MEMORY_MB must be"):
        budget_bytes()


def test_a_4k_episode_with_a_huge_batch_runs_capped_and_says_so(tmp_path, cap13, monkeypatch):
    import cv2

    from screentime.analysis.episode import analyze_episode
    from screentime.contracts.episode import parse_episode_id
    from screentime.contracts.options import RunOptions
    from screentime.storage import LocalStorage
    from screentime.vision.video import probe_video

    clip = tmp_path / "4k.avi"
    capture = cv2.VideoCapture(str(cap13))
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (3840, 2160))
    for _ in range(6):
        writer.write(cv2.resize(capture.read()[1], (3840, 2160)))
    writer.release()
    capture.release()
    monkeypatch.setenv("SCREENTIME_FRAME_MEMORY_MB", "512")
    warnings = []
    analysis = analyze_episode(parse_episode_id("big-s01e01"), probe_video(clip), "run1",
                               RunOptions(batch_size=256, save_crops=False), LocalStorage(tmp_path / "data"),
                               on_warning=warnings.append)
    assert analysis.frames.num_rows == 6
    assert any("batch_size 256 capped to" in w and "3840x2160" in w for w in warnings), warnings
