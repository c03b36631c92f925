"""Hostile media: a variable-frame-rate episode is timed, sampled and cropped by the frames'
presentation times, not frame index / average fps. The clip is written with PyAV from a real one
(carphone's frames at uneven times: two bursts at 25 fps, ten seconds apart)."""

from fractions import Fraction

import av
import cv2
import pytest

from screentime.analysis.episode import analyze_episode
from screentime.contracts.episode import parse_episode_id
from screentime.contracts.options import RunOptions
from screentime.storage import LocalStorage
from screentime.vision.video import FrameReader, probe_video

BURST = [i * 40 for i in range(40)]  # ms: 40 frames at 25 fps
PTS_MS = BURST + [10_000 + t for t in BURST]  # then ten seconds of nothing, then 40 more


@pytest.fixture(scope="module")
def vfr_clip(tmp_path_factory, carphone):
    path = tmp_path_factory.mktemp("vfr") / "vfr.mp4"
    capture = cv2.VideoCapture(str(carphone))
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=25)
    stream.width, stream.height, stream.pix_fmt = 176, 144, "yuv420p"
    stream.time_base = Fraction(1, 1000)
    for pts in PTS_MS:
        ok, image = capture.read()
        assert ok
        frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts, frame.time_base = pts, Fraction(1, 1000)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    capture.release()
    return path


def test_timestamps_are_the_frames_presentation_times(vfr_clip):
    info = probe_video(vfr_clip)
    assert info.fps < 10  # the container's average: 80 frames over 11.6 s
    frames = list(FrameReader(info, 0, det_size=640))
    assert [f.index for f in frames] == list(range(80))
    assert [round(f.timestamp_s * 1000) for f in frames] == PTS_MS  # not index / 6.9 fps


def test_sampling_keeps_one_frame_per_interval_of_real_time(vfr_clip):
    frames = list(FrameReader(probe_video(vfr_clip), 5, det_size=640))  # at most one frame per 0.2 s
    times = [f.timestamp_s for f in frames]
    assert len(frames) == 16  # 8 per 1.6 s burst; index / average fps would keep nearly every frame
    assert all(b - a >= 0.2 - 1e-3 for a, b in zip(times, times[1:], strict=False))


def test_the_analysis_records_real_times_and_spaces_crops_in_real_time(vfr_clip, tmp_path):
    analysis = analyze_episode(parse_episode_id("vfr-s01e01"), probe_video(vfr_clip), "run1",
                               RunOptions(fps=0, crop_every_s=1.0), LocalStorage(tmp_path))
    assert [round(t * 1000) for t in analysis.frames["timestamp_s"].to_pylist()] == PTS_MS
    crops = analysis.crops.to_pylist()
    assert crops
    for track in {c["track_id"] for c in crops}:
        times = sorted(c["timestamp_s"] for c in crops if c["track_id"] == track)
        assert all(b - a >= 1.0 - 1e-6 for a, b in zip(times, times[1:], strict=False)), times


def lying_avi(source, target, claimed: int = 1_000_000_000):
    """A real MJPG AVI whose headers (avih total frames, strh length) announce `claimed` frames."""
    import struct

    capture = cv2.VideoCapture(str(source))
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (176, 144))
    while (frame := capture.read()[1]) is not None:
        writer.write(frame)
    writer.release()
    data = bytearray(target.read_bytes())
    for tag, offset in ((b"avih", 16), (b"strh", 32)):
        at = data.find(tag) + 8 + offset
        data[at:at + 4] = struct.pack("<I", claimed)
    target.write_bytes(bytes(data))
    return target


def test_a_container_that_lies_about_its_length_is_counted_by_what_decoded(carphone, tmp_path):
    clip = lying_avi(carphone, tmp_path / "s01e01.avi")
    assert cv2.VideoCapture(str(clip)).get(cv2.CAP_PROP_FRAME_COUNT) == 1_000_000_000  # the lie, as read
    info = probe_video(clip)
    assert not info.count_trusted and info.frame_count <= clip.stat().st_size
    warnings = []
    analysis = analyze_episode(parse_episode_id("liar-s01e01"), info, "run1", RunOptions(save_crops=False),
                               LocalStorage(tmp_path / "data"), on_warning=warnings.append)
    counts = analysis.counts
    assert (counts.frames_decoded, counts.frames_unreadable) == (120, 0)  # not 999,999,880 unreadable
    assert analysis.source.frame_count == 120 and analysis.episode_frames == 120
    assert any("announces more frames" in w for w in warnings)
