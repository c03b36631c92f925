"""Frames in flight are bounded in bytes at the episode's frame size (screentime/vision/memory.py);
a frame that cannot fit even alone is refused before any work, naming what would fit."""

import json
import os
import re
import subprocess
import sys

import pytest

from screentime.contracts.errors import InvalidOption
from screentime.vision.memory import (
    DETECTOR_BYTES_PER_PIXEL,
    GPU_HOST_COPIES,
    budget_bytes,
    check_frames_fit,
    plan_frames,
)

MB = 1024 * 1024
BUDGET = 2048 * MB
K8 = (7680, 4320)


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


def test_8k_at_full_size_is_refused_with_the_memory_it_needs_and_what_would_fit():
    """One 33-megapixel detector input is 3x the detector's share: fewer frames cannot help."""
    with pytest.raises(InvalidOption) as refused:
        plan_frames(*K8, *K8, 2, BUDGET, save_frames=True)
    message = str(refused.value)
    assert "\n" not in message
    for part in ("a 7680x4320 frame detected at 7680x4320 (det_size 0, the source size)", "needs about 3.1 GiB",
                 "SCREENTIME_FRAME_MEMORY_MB is 2048", "use det_size 4096 or less",
                 "set SCREENTIME_FRAME_MEMORY_MB to 6400 or more"):
        assert part in message, message
    # What it suggests does fit: the largest det_size, one frame at a time; or the larger budget.
    at_4096 = plan_frames(*K8, 4096, 2304, 2, BUDGET, save_frames=True)
    assert (at_4096.batch_size, at_4096.queue_frames) == (1, 2)
    assert plan_frames(*K8, *K8, 2, 6400 * MB, save_frames=True).batch_size == 1
    with pytest.raises(InvalidOption):
        plan_frames(*K8, 5120, 2880, 2, BUDGET, save_frames=True)  # 5K does not (det_size stops at 4096)


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080), (3840, 2160), K8, (4320, 7680)])
@pytest.mark.parametrize("det_size", [0, 320, 640, 1920, 4096])
@pytest.mark.parametrize("budget_mb", [256, 512, 2048])
@pytest.mark.parametrize("ladder", [False, True])
def test_a_plan_it_accepts_holds_its_budget_and_a_refusal_names_settings_that_do(size, det_size, budget_mb,
                                                                                  ladder):
    from screentime.vision.small_faces import DetectorInputs
    from screentime.vision.video import detector_input_size

    width, height = size
    det = detector_input_size(width, height, det_size)
    inputs = DetectorInputs.for_video(width, height, det_size)
    largest = inputs.largest if ladder and len(inputs.sizes) > 1 else None
    budget = budget_mb * MB
    frame, scaled = width * height * 3, (det[0] * det[1] * 3 if det != size else 0)
    top = largest or det
    fine = top[0] * top[1] * 3 if top not in (det, size) else 0
    per_input = frame + scaled + fine + top[0] * top[1] * DETECTOR_BYTES_PER_PIXEL
    try:
        plan = plan_frames(width, height, *det, 256, budget, save_frames=True, largest_input=largest)
    except InvalidOption as refused:
        message = str(refused)
        assert f"a {width}x{height} frame" in message and f"SCREENTIME_FRAME_MEMORY_MB is {budget_mb}" in message
        assert per_input > budget // 2 or per_input + 2 * (frame + scaled) + 2 * frame > budget
        needed = int(re.search(r"SCREENTIME_FRAME_MEMORY_MB to (\d+) or more", message).group(1))
        plan_frames(width, height, *det, 256, needed * MB, save_frames=True, largest_input=largest)  # fits
        suggested = re.search(r"(small_face_px 0 and )?det_size (\d+) or less", message)
        if suggested:
            side = int(suggested.group(2))
            smaller = DetectorInputs.for_video(width, height, side)
            keeps_ladder = not suggested.group(1) and len(smaller.sizes) > 1
            plan_frames(width, height, *smaller.sizes[0], 256, budget, save_frames=True,
                        largest_input=smaller.largest if keeps_ladder else None)  # fits too
        return
    assert plan.batch_size * per_input <= budget // 2
    assert plan.queue_frames * (frame + scaled) <= budget // 4 or plan.queue_frames == 2
    assert plan.pending_exports * frame <= budget // 4 or plan.pending_exports == 2
    assert per_input + plan.queue_frames * (frame + scaled) + plan.pending_exports * frame <= budget


def test_the_detectors_memory_is_counted_at_the_largest_input_the_run_may_use():
    """Shots with small faces are detected at full size (small_face_px): the batch must fit that."""
    coarse = plan_frames(3840, 2160, 640, 360, 256, BUDGET)
    fine = plan_frames(3840, 2160, 640, 360, 256, BUDGET, largest_input=(1920, 1080))
    # the frame, its det_size copy, the 1920x1080 copy the larger rung is resized into, the detector's work
    per_input = 3840 * 2160 * 3 + 640 * 360 * 3 + 1920 * 1080 * (3 + DETECTOR_BYTES_PER_PIXEL)
    assert fine.batch_size == (BUDGET // 2) // per_input < coarse.batch_size
    assert "detector input 1920x1080" in fine.warning
    # HD's largest rung is the frame itself: no copy
    hd = plan_frames(1920, 1080, 640, 360, 256, BUDGET, largest_input=(1920, 1080))
    assert hd.batch_size == (BUDGET // 2) // (1920 * 1080 * (3 + DETECTOR_BYTES_PER_PIXEL) + 640 * 360 * 3)


def test_a_ladder_too_large_for_the_budget_is_refused_naming_small_face_px():
    """det_size 640 alone would fit 256 MB; the small-face ladder's full-size rung does not."""
    plan_frames(1920, 1080, 640, 360, 2, 256 * MB)
    with pytest.raises(InvalidOption, match=r"detected at up to 1920x1080 \(the small-face ladder's largest "
                       r"input, over det_size 640\).*use small_face_px 0 and det_size \d+ or less"):
        plan_frames(1920, 1080, 640, 360, 2, 256 * MB, largest_input=(1920, 1080))


def test_a_gpu_budget_replaces_the_detectors_share():
    plan = plan_frames(1280, 720, 1280, 720, 256, BUDGET, detector_budget=8 * 1024 * MB)
    assert plan.batch_size == (8 * 1024 * MB) // (1280 * 720 * DETECTOR_BYTES_PER_PIXEL)  # the GPU's limit
    host_bound = plan_frames(3840, 2160, 640, 360, 256, BUDGET, detector_budget=80 * 1024 * MB)
    # the host's frames, and the batch stacked and pinned for the copy to the GPU
    host = 3840 * 2160 * 3 + 640 * 360 * 3 + GPU_HOST_COPIES * 640 * 360 * 3
    assert host_bound.batch_size == (BUDGET // 2) // host
    assert plan_frames(*K8, *K8, 2, BUDGET, detector_budget=40 * 1024 * MB).batch_size == 2  # 8K fits an H100
    with pytest.raises(InvalidOption, match=r"needs about 3.0 GiB of GPU memory in the detector, over half the "
                       r"GPU's free memory \(1.0 GiB\): use det_size 4096 or less"):
        plan_frames(*K8, *K8, 2, BUDGET, detector_budget=1024 * MB)


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


# --- a real 8K episode at det_size 0 under the default budget -------------------------------------------------

# One analysis in its own process, reporting its own peak RSS whether it ran or was refused.
CHILD = """
import json, resource, sys
from screentime.runtime import configure_runtime
configure_runtime()
from screentime.analysis.episode import analyze_episode
from screentime.contracts.episode import parse_episode_id
from screentime.contracts.options import RunOptions
from screentime.storage import LocalStorage
from screentime.vision.video import probe_video
result = {}
try:
    analysis = analyze_episode(parse_episode_id("big-s01e01"), probe_video(sys.argv[1]), "run1",
                               RunOptions(**json.loads(sys.argv[2])), LocalStorage(sys.argv[3]))
    result["frames"] = analysis.frames.num_rows
except Exception as exc:
    result["error"] = f"{type(exc).__name__}: {exc}"
result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(result))
"""


@pytest.fixture(scope="module")
def clip_8k(tmp_path_factory, cap13):
    """cap13 scaled up to 7680x4320: 6 frames at 10 fps, Motion-JPEG (OpenCV writes any size)."""
    import cv2

    clip = tmp_path_factory.mktemp("8k") / "8k.avi"
    capture = cv2.VideoCapture(str(cap13))
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, K8)
    for _ in range(6):
        writer.write(cv2.resize(capture.read()[1], K8))
    writer.release()
    capture.release()
    return clip


def _analyse_in_a_child(clip, options: dict, out) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "SCREENTIME_FRAME_MEMORY_MB"}  # the default budget
    done = subprocess.run([sys.executable, "-c", CHILD, str(clip), json.dumps(options), str(out)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_cli_refuses_an_8k_episode_at_det_size_0_in_one_line_and_writes_nothing(tmp_path, clip_8k):
    env = {k: v for k, v in os.environ.items() if k != "SCREENTIME_FRAME_MEMORY_MB"}
    env.update(DAGSTER_HOME=str(tmp_path / "dagster_home"), SCREENTIME_DATA_DIR=str(tmp_path / "data"),
               STORAGE_BACKEND="local")
    exe = os.path.join(os.path.dirname(sys.executable), "screentime")
    done = subprocess.run([exe, "run", str(clip_8k), "--ep-id", "big-s01e01", "--det-size", "0"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for part in ("7680x4320", "det_size 0", "needs about 3.1 GiB", "SCREENTIME_FRAME_MEMORY_MB is 2048",
                 "use det_size 4096 or less", "SCREENTIME_FRAME_MEMORY_MB to 6400 or more"):
        assert part in lines[0], lines[0]
    assert done.stdout == ""
    assert not (tmp_path / "data").exists() and not (tmp_path / "dagster_home").exists()


def test_a_dagster_run_of_an_8k_episode_at_det_size_0_fails_naming_the_setting(data_dir, instance, clip_8k,
                                                                                 monkeypatch):
    from tests.dagster_helpers import local_defs, run_episode_job
    from tests.test_bad_input_dagster import artifacts_only, failure_text

    monkeypatch.delenv("SCREENTIME_FRAME_MEMORY_MB", raising=False)
    result = run_episode_job(local_defs(data_dir), instance, "big-s01e01", clip_8k, det_size=0, device="cpu")
    assert not result.success
    text = failure_text(result)
    assert "InvalidOption" in text and "det_size 0" in text and "SCREENTIME_FRAME_MEMORY_MB" in text, text
    assert artifacts_only(data_dir) == []


def test_check_frames_fit_is_the_plan_the_run_makes():
    """The CLI's and API's check up front and analyze_episode's plan agree, ladder included."""
    from screentime.contracts.options import RunOptions

    assert check_frames_fit(3840, 2160, RunOptions(batch_size=256)) == plan_frames(
        3840, 2160, 320, 180, 256, BUDGET, largest_input=(1920, 1080))
    with pytest.raises(InvalidOption, match="det_size 0"):
        check_frames_fit(*K8, RunOptions(det_size=0))
    # on CUDA the host holds only the frames and their copies (the run checks the GPU's memory itself)
    assert check_frames_fit(*K8, RunOptions(det_size=0), on_gpu=True).batch_size == 3


def test_8k_is_refused_at_det_size_0_and_held_to_the_budget_at_the_det_size_it_suggests(tmp_path, clip_8k):
    """Before: det_size 0 on 8K ran, one frame at a time, to a 4.0 GB peak (4.5-4.95 GB reported)."""
    refused = _analyse_in_a_child(clip_8k, {"det_size": 0, "save_crops": False, "fps": 2}, tmp_path / "a")
    assert "frames" not in refused and refused["error"].startswith("InvalidOption: a 7680x4320 frame"), refused
    assert not (tmp_path / "a").exists() or not any((tmp_path / "a").rglob("*.jpg"))
    held = _analyse_in_a_child(clip_8k, {"det_size": 4096, "save_crops": False, "fps": 2}, tmp_path / "b")
    assert held.get("frames") == 2, held
    # The refused run's peak is the process's own (code, models, one probed frame): the run that fits adds
    # at most the budget to it.
    assert held["peak_mb"] <= refused["peak_mb"] + 2048, (refused, held)
