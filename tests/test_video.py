import pytest

from screentime.contracts.errors import VideoError
from screentime.vision.video import FrameReader, expected_sampled_frames, probe_video


def test_probe_reads_the_real_clip(carphone):
    info = probe_video(carphone)
    assert (info.width, info.height, info.frame_count) == (176, 144, 120)
    assert info.fps == pytest.approx(29.97, abs=0.01)


def test_missing_empty_and_text_files_are_rejected(tmp_path):
    with pytest.raises(VideoError, match="not found"):
        probe_video(tmp_path / "nope.mp4")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoError, match="empty"):
        probe_video(empty)
    text = tmp_path / "text.mp4"
    text.write_text("this is not a video\n" * 100)
    with pytest.raises(VideoError, match="not a readable video"):
        probe_video(text)


@pytest.mark.parametrize("extension, kind", [(".jpg", "JPEG"), (".png", "PNG"), (".bmp", "BMP"), (".webp", "WebP")])
def test_a_still_image_renamed_mp4_is_not_a_one_frame_episode(tmp_path, carphone, extension, kind):
    import cv2

    capture = cv2.VideoCapture(str(carphone))
    ok, frame = capture.read()
    capture.release()
    assert ok
    image = tmp_path / f"photo{extension}"
    assert cv2.imwrite(str(image), frame)
    renamed = image.rename(tmp_path / "s01e01.mp4")
    with pytest.raises(VideoError, match=f"not a video: .* is an? {kind} image"):
        probe_video(renamed)


def test_truncated_video_without_index_is_rejected(truncated_video):
    with pytest.raises(VideoError, match="not a readable video"):
        probe_video(truncated_video)


def test_every_frame_at_fps_zero(carphone):
    info = probe_video(carphone)
    frames = list(FrameReader(info, 0, det_size=640))
    assert [f.index for f in frames] == list(range(120))
    assert frames[0].image.shape == (144, 176, 3)


def test_sampling_to_a_lower_rate(cap13):
    info = probe_video(cap13)  # 25 fps, 765 frames
    frames = list(FrameReader(info, 8, det_size=640))
    assert len(frames) == expected_sampled_frames(info, 8) == 245
    gaps = {b.index - a.index for a, b in zip(frames, frames[1:], strict=False)}
    assert gaps <= {3, 4}  # 25/8 = 3.125 source frames per analysed frame


def test_detector_input_is_scaled_once(cap13):
    info = probe_video(cap13)
    reader = FrameReader(info, 0, det_size=200)
    frame = next(iter(reader))
    assert frame.det_image.shape == (150, 200, 3)
    assert frame.image.shape == (300, 400, 3)


def test_stopping_early_stops_the_decoder(cap13):
    import threading

    info = probe_video(cap13)
    for _frame in FrameReader(info, 0, det_size=640, queue_size=2):
        break
    assert not any(t.name == "screentime-decode" for t in threading.enumerate())
