"""One decoder interface for the CPU and CUDA (screentime.vision.decoding): every backend gives the
frames, times and pixels OpenCV gives, through the same calls. The CUDA path is the torchcodec
path with `device="cuda:N"`: here it runs with `device="cpu"` (and its CUDA test where CUDA is).
Where torchcodec cannot load, the reader decodes on the CPU and says so once."""

import sys
import threading
import warnings

import av
import cv2
import numpy as np
import pytest
import torch

from screentime.vision import decoding
from screentime.vision.decoding import (
    choose_decoder,
    open_decoder,
    resize_for_detector,
    scale_on_device,
    swap_channels,
    to_host_bgr,
)
from screentime.vision.video import FrameReader, probe_video
from tests.test_hostile_media import PTS_MS, vfr_clip  # noqa: F401  (a fixture)
from tests.test_stream_times import joined_ts  # noqa: F401  (a fixture)

BACKENDS = ["pyav", "opencv", "torchcodec"]


def readers(path, fps, det_size, *backends, device="cpu"):
    return [FrameReader(probe_video(path), fps, det_size, device=device, decoder=backend) for backend in backends]


@pytest.mark.parametrize("backend", ["pyav", "torchcodec"])
def test_each_backend_gives_opencvs_frames_times_and_pixels(cap13, backend):
    """cap13 sampled to 8 fps and scaled by half (bilinear): the same frames at the same times, the
    same source pixels, the detector's copy within one level (OpenCV rounds in fixed point). PyAV,
    the CPU's default, is OpenCV to the bit: the default analysis did not change with it."""
    reference, reader = readers(cap13, 8, 200, "opencv", backend)
    exact = backend == "pyav"
    frames = 0
    for ref, got in zip(reference, reader, strict=True):
        frames += 1
        expected = (ref.index, ref.timestamp_s, ref.duration_s)
        assert (got.index, got.timestamp_s, got.duration_s) == (expected if exact else pytest.approx(expected))
        assert got.image.shape == (300, 400, 3) and got.det_image.shape == (150, 200, 3)
        assert np.array_equal(got.image, ref.image)
        assert np.abs(got.det_image.astype(int) - ref.det_image).max() <= (0 if exact else 1)
    assert reader.decoder.label == f"{backend} on cpu"
    assert frames == 245 and reader.frames_decoded == reference.frames_decoded == 765
    assert reader.stream_seconds == (reference.stream_seconds if exact else pytest.approx(reference.stream_seconds))


def test_720p_scaled_on_the_device_is_opencvs_area_average(group_shots):
    """1280x720 to det_size 320 (a quarter: area averaging), torchcodec's torch ops against OpenCV."""
    reference, reader = readers(group_shots, 5, 320, "opencv", "torchcodec")
    for ref, got, _ in zip(reference, reader, range(12), strict=False):
        assert got.index == ref.index and got.det_image.shape == (180, 320, 3)
        assert np.array_equal(got.image, ref.image) and np.array_equal(got.det_image, ref.det_image)


@pytest.mark.parametrize(
    "size, scale, most, mean",
    [
        ((200, 150), 0.5, 1, 0.5),  # bilinear: OpenCV rounds its weights in fixed point
        ((320, 180), 0.25, 0, 0.0),  # area averaging by a whole factor (1280x720 at det_size 320): the same
        ((500, 281), 0.39, 255, 2.5),  # by a fraction: torch's bins are whole pixels, OpenCV's weighted at edges
    ],
)
def test_scaling_with_torch_matches_opencvs_filters(group_shots, size, scale, most, mean):
    capture = cv2.VideoCapture(str(group_shots))
    ok, image = capture.read()
    capture.release()
    assert ok
    rgb = torch.from_numpy(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)).permute(2, 0, 1)
    ours = to_host_bgr(scale_on_device(rgb, size, scale))
    theirs = resize_for_detector(image, size, scale)
    difference = np.abs(ours.astype(int) - theirs)
    assert ours.shape == theirs.shape and difference.max() <= most and difference.mean() <= mean


def test_the_gpus_channel_swap_is_opencvs(carphone):
    capture = cv2.VideoCapture(str(carphone))
    ok, image = capture.read()
    capture.release()
    rgb = torch.from_numpy(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    assert ok and np.array_equal(swap_channels(rgb).numpy(), image)


@pytest.mark.parametrize("backend", BACKENDS)
def test_variable_frame_rate_times_are_the_streams(vfr_clip, backend):  # noqa: F811
    (reader,) = readers(vfr_clip, 0, 640, backend)
    assert [round(f.timestamp_s * 1000) for f in reader] == PTS_MS


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_timestamp_reset_is_repaired_by_every_backend(joined_ts, backend):  # noqa: F811
    (reader,) = readers(joined_ts, 0, 640, backend)
    times = [f.timestamp_s for f in reader]
    assert len(times) == 240 and all(b > a for a, b in zip(times, times[1:], strict=False))
    assert times[-1] == pytest.approx(8.0, abs=0.05) and reader.timestamp_repairs == 1


@pytest.fixture(scope="module")
def rotated_clip(tmp_path_factory, carphone):
    """carphone's frames with a display matrix that turns them 90 degrees (a phone held upright)."""
    path = tmp_path_factory.mktemp("rotated") / "rotated.mp4"
    capture = cv2.VideoCapture(str(carphone))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 176, 144, "yuv420p"
        stream.set_display_rotation(90)
        for _ in range(10):
            ok, image = capture.read()
            assert ok
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    capture.release()
    return path


@pytest.mark.parametrize("backend", ["pyav", "torchcodec"])
def test_a_rotated_video_comes_upright_as_opencv_shows_it(rotated_clip, backend):
    info = probe_video(rotated_clip)
    assert (info.width, info.height) == (144, 176)
    reference, reader = readers(rotated_clip, 0, 640, "opencv", backend)
    pairs = list(zip(reference, reader, strict=True))
    assert len(pairs) == 10
    assert all(got.image.shape == (176, 144, 3) and np.array_equal(got.image, ref.image) for ref, got in pairs)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_video_cut_in_half_decodes_what_it_can_and_counts_the_rest(partly_decodable_video, backend):
    (reader,) = readers(partly_decodable_video, 0, 640, backend)
    frames = sum(1 for _ in reader)
    assert 300 < frames == reader.frames_decoded < 765
    assert reader.frames_decoded + reader.frames_unreadable == 765


def test_the_device_picks_the_backend_and_a_bad_choice_is_refused():
    assert choose_decoder("cpu").label == "pyav on cpu"
    assert choose_decoder("cuda:1").label == "torchcodec on cuda:1"  # the CUDA path: torchcodec, NVDEC
    assert choose_decoder("cpu", "torchcodec").label == "torchcodec on cpu"  # the same path, on the CPU
    with pytest.raises(ValueError, match="runs on the CPU only"):
        choose_decoder("cuda:0", "opencv")
    with pytest.raises(ValueError, match="unknown decoder 'nvdec'"):
        choose_decoder("cpu", "nvdec")
    with pytest.raises(ValueError, match="unknown decode device 'mps'"):
        choose_decoder("mps")


@pytest.fixture
def torchcodec_missing(monkeypatch):
    """torchcodec's import fails, as it does without FFmpeg's shared libraries."""
    monkeypatch.setitem(sys.modules, "torchcodec.decoders", None)
    decoding.torchcodec_problem.cache_clear()
    yield
    decoding.torchcodec_problem.cache_clear()


def test_without_torchcodec_a_cuda_run_decodes_on_the_cpu_and_says_so_once(carphone, torchcodec_missing):
    said = []
    reader = FrameReader(probe_video(carphone), 0, 640, device="cuda:0", on_warning=said.append)
    assert sum(1 for _ in reader) == 120
    assert reader.decoder.label == "pyav on cpu"
    assert (
        len(said) == 1
        and said[0].startswith("torchcodec cannot be loaded (ModuleNotFoundError")
        and "make install" in said[0]
    )
    with pytest.warns(RuntimeWarning, match="torchcodec cannot be loaded"):
        FrameReader(probe_video(carphone), 0, 640, decoder="torchcodec")


def test_torchcodec_loads_here():
    """CI installs FFmpeg's shared libraries (.ci/ffmpeg-libs): the torchcodec tests above are real."""
    assert decoding.torchcodec_problem() is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_closing_early_releases_every_backend(group_shots, backend):
    frames = open_decoder(str(group_shots), (320, 180), 0.25, choose_decoder("cpu", backend))
    first = next(frames)
    image, det = first.pixels()
    assert image.shape == (720, 1280, 3) and det.shape == (180, 320, 3)
    frames.close()
    assert frames.gi_frame is None
    for _ in readers(group_shots, 0, 320, backend)[0]:
        break
    assert not any(t.name == "screentime-decode" for t in threading.enumerate())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (bench/gpu_check.sh runs it on a GPU machine)")
def test_nvdec_frames_equal_the_cpus_within_a_tolerance(group_shots):
    """The CUDA path (NVDEC, scaled on the GPU) against the same calls on the CPU."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no silent fallback to the CPU
        (cpu,) = readers(group_shots, 5, 320, "torchcodec")
        (gpu,) = readers(group_shots, 5, 320, "torchcodec", device="cuda:0")
    assert gpu.decoder.label == "torchcodec on cuda:0"
    pairs = list(zip(cpu, gpu, strict=True))
    assert len(pairs) == 105
    for ref, got in pairs:
        assert (got.index, got.timestamp_s) == pytest.approx((ref.index, ref.timestamp_s))
        assert np.abs(got.image.astype(int) - ref.image).mean() < 2.0
        assert np.abs(got.det_image.astype(int) - ref.det_image).mean() < 2.0


@pytest.mark.slow
def test_the_gpu_check_runs_on_the_cpu_and_prints_its_table():
    """bench/gpu_check.sh, short: it says its device, times every stage and compares the paths."""
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [str(root / "bench" / "gpu_check.sh"), "--device", "cpu", "--seconds", "3", "--episodes", "2", "--no-write"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=root,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert out.startswith("gpu_check: device cpu;") and "Device: **cpu**" in out
    for row in (
        "| decode only (BGR + det_size copy) | pyav on cpu |",
        "| decode only (BGR + det_size copy) | torchcodec on cpu |",
        "| detector only",
        "| whole episode (analyze_episode) | pyav on cpu |",
        "\n| 1 | ",
        "\n| 2 | ",
    ):
        assert row in out
    assert "torchcodec on cpu + the detector on cpu against pyav on cpu + the detector on cpu" in out
    assert "**EQUAL within tolerance**" in out and "| 100.00% | 100.00% |" in out
