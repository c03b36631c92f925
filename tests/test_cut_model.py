"""CutDetector on a real clip made from the photos ultralytics ships (zidane.jpg, bus.jpg).

The case it exists for: a face-centred close-up of one person cut to a close-up of another person
at the same place and size, over the same blurred backdrop, with a slow zoom inside each shot
(shot/reverse-shot). The clip is encoded to H.264 and decoded back like an episode, then fed
every frame and every 3rd frame, as the pipeline samples it, at det_size 320 and 640. bench/bench_cuts.py measures the
same on many more people.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from screentime.vision.cut_model import CutDetector
from screentime.vision.video import FrameReader, probe_video

W, H, FPS = 640, 360, 25
# Faces in ultralytics 8.4.190's assets (RetinaFace boxes, x1 y1 x2 y2): Zidane and Ancelotti.
ZIDANE, ANCELOTTI = (544, 251, 663, 440), (914, 100, 1051, 280)


def _assets() -> Path:
    ultralytics = pytest.importorskip("ultralytics")
    folder = Path(ultralytics.__file__).parent / "assets"
    if not (folder / "zidane.jpg").is_file() or not (folder / "bus.jpg").is_file():
        pytest.skip("ultralytics ships no zidane.jpg / bus.jpg")
    return folder


def _portrait(photo: np.ndarray, box, backdrop: np.ndarray | None, grey: bool) -> np.ndarray:
    """A 1.1x-oversized close-up: the face 40 % of the height at the centre, head and shoulders
    sharp over the photo blurred (or over `backdrop`)."""
    cw, ch = int(W * 1.1), int(H * 1.1)
    x1, y1, x2, y2 = box
    s = 0.40 * H / (y2 - y1)
    m = np.float32([[s, 0, cw / 2 - s * (x1 + x2) / 2], [0, s, ch * 0.45 - s * (y1 + y2) / 2]])
    sharp = cv2.warpAffine(photo, m, (cw, ch), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101)
    bg = backdrop if backdrop is not None else cv2.GaussianBlur(sharp, (0, 0), 0.03 * W)
    fw, fh = (x2 - x1) * s, (y2 - y1) * s
    mask = np.zeros((ch, cw), np.float32)
    cv2.ellipse(mask, (cw // 2, int(ch * 0.45 - 0.05 * fh)), (int(0.8 * fw), int(0.8 * fh)), 0, 0, 360, 1.0, -1)
    cv2.ellipse(mask, (cw // 2, int(ch * 0.45 + 1.5 * fh)), (int(2.0 * fw), int(1.0 * fh)), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 0.06 * fh)[..., None]
    pic = (mask * sharp + (1 - mask) * bg).astype(np.uint8)
    return cv2.cvtColor(cv2.cvtColor(pic, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR) if grey else pic


def _zoom(canvas: np.ndarray, n: int, z0: float, z1: float, pan_px: float = 0.0):
    """n frames of a slow zoom about the canvas centre (the face stays put) and a slow pan."""
    ch, cw = canvas.shape[:2]
    for f in range(n):
        t = f / (n - 1)
        z = z0 + (z1 - z0) * t
        m = np.float32([[z, 0, W / 2 - z * cw / 2 + pan_px * (t - 0.5)], [0, z, H * 0.45 - z * ch * 0.45]])
        yield cv2.warpAffine(canvas, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)


def _pan(photo: np.ndarray, n: int):
    """n frames of a continuous pan across the photo (no cut): 0.6 % of the width a frame."""
    s = H / photo.shape[0] * 1.3
    for f in range(n):
        x0 = 40 + 0.006 * W * f
        yield cv2.warpAffine(photo, np.float32([[s, 0, -x0], [0, s, -0.1 * H]]), (W, H), flags=cv2.INTER_AREA,
                             borderMode=cv2.BORDER_REFLECT101)


def _write(path: Path, frames) -> None:
    av = pytest.importorskip("av")
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(FPS, 1))
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


# (what, frames); every shot after the first starts with a hard cut
SHOTS = [("zidane, colour", 30), ("ancelotti, colour, the same backdrop", 30), ("zidane", 25),
         ("ancelotti", 35), ("a pan across bus.jpg", 50), ("zidane, grey", 30), ("ancelotti, grey", 30)]
CUTS = np.cumsum([n for _, n in SHOTS])[:-1].tolist()  # [30, 60, 85, 120, 170, 200]


@pytest.fixture(scope="module")
def portrait_clip(tmp_path_factory) -> Path:
    assets = _assets()
    zidane, bus = cv2.imread(str(assets / "zidane.jpg")), cv2.imread(str(assets / "bus.jpg"))
    z_colour = _portrait(zidane, ZIDANE, None, grey=False)
    backdrop = cv2.GaussianBlur(z_colour, (0, 0), 0.03 * W)  # Zidane's blurred set, behind Ancelotti too
    a_colour = _portrait(zidane, ANCELOTTI, backdrop, grey=False)
    z_grey, a_grey = _portrait(zidane, ZIDANE, None, grey=True), _portrait(zidane, ANCELOTTI, backdrop, grey=True)

    def frames():
        yield from _zoom(z_colour, 30, 1.0, 1.05, 6)
        yield from _zoom(a_colour, 30, 1.06, 1.0, -6)
        yield from _zoom(z_colour, 25, 1.02, 1.07)
        yield from _zoom(a_colour, 35, 1.0, 1.04, 8)
        yield from _pan(bus, 50)
        yield from _zoom(z_grey, 30, 1.0, 1.05, -6)
        yield from _zoom(a_grey, 30, 1.05, 1.0, 6)

    path = tmp_path_factory.mktemp("cuts") / "portraits.mp4"
    _write(path, frames())
    return path


def _run(path: Path, step: int, det_size: int) -> list[int]:
    detector = CutDetector()
    found = []
    for frame in FrameReader(probe_video(path), 0, det_size=det_size):
        if frame.index % step == 0 and detector.update(frame.index, frame.timestamp_s, frame.det_image):
            found.append(frame.index)
    assert found == detector.cuts
    return found


@pytest.mark.parametrize("det_size", [320, 640])  # the pipeline's default det_size, and the clip's own size
@pytest.mark.parametrize("step", [1, 3])
def test_every_cut_between_two_people_at_the_same_place_is_found_exactly(portrait_clip, step, det_size):
    expected = [c + (-c) % step for c in CUTS]  # the new shot's first sampled frame
    assert probe_video(portrait_clip).frame_count == sum(n for _, n in SHOTS)
    assert _run(portrait_clip, step, det_size) == expected


def test_shots_tile_the_clip_and_the_api_matches_shot_detector(portrait_clip):
    detector = CutDetector()
    info = probe_video(portrait_clip)
    for frame in FrameReader(info, 0, det_size=320):
        detector.update(frame.index, frame.timestamp_s, frame.det_image)
    shots = detector.shots(info.fps, info.frame_count)
    assert [s.first_frame for s in shots] == [0, *CUTS]
    assert shots[-1].last_frame == info.frame_count - 1
    assert all(a.end_s == b.start_s for a, b in zip(shots, shots[1:], strict=False))
    assert detector.shot == len(CUTS) and detector.lookahead == 0
    assert detector.settings["threshold"] == detector.threshold
    with pytest.raises(ValueError, match="in order"):
        detector.update(0, 0.0, np.zeros((H, W, 3), np.uint8))


def test_still_and_flat_frames_are_no_cut():
    detector = CutDetector()
    black, grey = np.zeros((H, W, 3), np.uint8), np.full((H, W), 128, np.uint8)
    assert not any(detector.update(i, i / FPS, black if i < 20 else grey) for i in range(40))
