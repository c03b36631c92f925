"""A pan and zoom over a wall of group photos: ~29 faces of 20-45 px in a 1280x720 frame (a wide
studio shot, a crowd, a panel), faces leaving and entering at the edges as the camera moves.

`compose_wall` lays photos out at fixed scales on one canvas; `render_pan` films it. Both are
deterministic (no randomness, fixed interpolation), so the same photos give the same frames. The
benchmark (bench/make_pan_clip.py) uses the six original photos of npm @vladmandic/face-api@1.7.15;
the tests use the same photos as they appear in the close shots of tests/media/group_shots.mp4.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

WIDTH, HEIGHT, FPS = 1280, 720, 25
# 15 placements on a 5 x 3 grid, each (photo, its faces' size / TARGET_FACE_PX): the six photos,
# then again mirrored, then three once more; faces of 20-45 px on the canvas.
LAYOUT = ((1, 0.55), (2, 0.80), (3, 0.62), (4, 1.00), (5, 0.70),
          (6, 0.90), (1, 1.05), (4, 0.65), (2, 0.58), (3, 0.95),
          (5, 1.00), (6, 0.60), (1, 0.75), (2, 1.08), (3, 0.52))
COLUMNS = 5
TARGET_FACE_PX = 40.0  # a placement at 1.0 has faces of about this size on the canvas
CELL_W, CELL_H = 380, 270
CANVAS_W, CANVAS_H = CELL_W * COLUMNS, CELL_H * 3
# The original photos: (width, height) and their faces' median size in px (RetinaFace at full size).
PHOTO_SIZE = {1: (1920, 1280), 2: (1920, 1367), 3: (1920, 1350), 4: (1920, 1448), 5: (1920, 1398), 6: (1920, 1537)}
PHOTO_FACE_PX = {1: 212.0, 2: 207.0, 3: 241.0, 4: 203.5, 5: 203.0, 6: 247.5}


def compose_wall(photos: dict[int, np.ndarray], face_px: dict[int, float]) -> np.ndarray:
    """The canvas: each LAYOUT placement scaled so its faces are `scale * TARGET_FACE_PX` (from the
    photo's face size `face_px[photo]`), centred in its cell, over a dim vertical gradient."""
    ramp = np.linspace(30, 90, CANVAS_H, dtype=np.float32)[:, None, None]
    canvas = np.broadcast_to(ramp * np.array([1.0, 0.9, 0.8], np.float32), (CANVAS_H, CANVAS_W, 3))
    canvas = canvas.astype(np.uint8).copy()
    for k, (photo, scale) in enumerate(LAYOUT):
        row, col = divmod(k, COLUMNS)
        image = photos[photo] if k < 6 or k >= 12 else photos[photo][:, ::-1]  # the first repeats mirrored
        s = scale * TARGET_FACE_PX / face_px[photo]
        small = cv2.resize(image, (round(image.shape[1] * s), round(image.shape[0] * s)), interpolation=cv2.INTER_AREA)
        h, w = min(small.shape[0], CELL_H - 8), min(small.shape[1], CELL_W - 8)  # big ones cropped, centred
        top, left = (small.shape[0] - h) // 2, (small.shape[1] - w) // 2
        y, x = row * CELL_H + (CELL_H - h) // 2, col * CELL_W + (CELL_W - w) // 2
        canvas[y:y + h, x:x + w] = small[top:top + h, left:left + w]
    return canvas


def camera(t: float) -> tuple[float, float, float]:
    """The window at time t in 0..1: (centre x, centre y, zoom; 1 = 1280 canvas px wide). Pans right
    across the wall while zooming out a little, then back left zooming in (smooth, eased)."""
    ease = (1 - np.cos(np.pi * min(t * 2, 1.0))) / 2 if t < 0.5 else (1 - np.cos(np.pi * (t * 2 - 1))) / 2
    if t < 0.5:
        cx, zoom = 660 + 580 * ease, 1.06 - 0.12 * ease
    else:
        cx, zoom = 1240 - 500 * ease, 0.94 + 0.14 * ease
    return cx, CANVAS_H / 2 + 25 * np.sin(2 * np.pi * t), zoom


def render_pan(canvas: np.ndarray, frames: int, path_frames: int = 0) -> Iterator[np.ndarray]:
    """The clip's frames, one at a time: 1280x720 windows of `canvas` along `camera`, whose whole
    path takes `path_frames` (default: `frames`; more films only its start, at the same speed)."""
    path_frames = max(path_frames, frames)
    for i in range(frames):
        cx, cy, zoom = camera(i / max(1, path_frames - 1))
        vw, vh = WIDTH / zoom, HEIGHT / zoom
        x0, y0 = cx - vw / 2, cy - vh / 2
        m = np.float32([[zoom, 0, -x0 * zoom], [0, zoom, -y0 * zoom]])
        yield cv2.warpAffine(canvas, m, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR, borderValue=(30, 27, 24))


def photos_from_group_shots(group_shots: Path) -> tuple[dict[int, np.ndarray], dict[int, float]]:
    """The six photos as group_shots.mp4's close shots show them (each photo's first close shot
    starts with it fitted whole into 1280x720, tests/media/README.md), and their faces' sizes
    there, for tests that may not fetch the originals."""
    first_frame = {1: 75, 4: 125, 2: 225, 5: 325, 3: 375, 6: 425}
    capture = cv2.VideoCapture(str(group_shots))
    photos = {}
    for photo, index in first_frame.items():
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, image = capture.read()
        if not ok:
            raise RuntimeError(f"{group_shots}: frame {index} did not decode")
        photos[photo] = image
    capture.release()
    fit = {p: min(WIDTH / w, HEIGHT / h) for p, (w, h) in PHOTO_SIZE.items()}
    return photos, {p: PHOTO_FACE_PX[p] * fit[p] for p in photos}


def write_mjpg(frames: Iterable[np.ndarray], path: Path) -> Path:
    """MJPG at 25 fps (OpenCV alone writes it); written beside `path` and renamed."""
    tmp = path.with_name(path.stem + ".part.avi")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), float(FPS), (WIDTH, HEIGHT))
    for frame in frames:
        writer.write(np.ascontiguousarray(frame))
    writer.release()
    tmp.replace(path)
    return path
