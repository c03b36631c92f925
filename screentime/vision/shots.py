"""Shot boundaries (hard cuts), found on the sampled frames during the single decoding pass.

ByteTrack matches faces by box overlap, so at a hard cut from one close-up to another close-up
at the same place it would carry one track from one person to the next; tracks must end at cuts.

Each sampled frame is shrunk to a 96 px wide grey thumbnail cut into a 4 x 2 grid of blocks. Each
block is matched against the previous frame around the same place, shifted by up to +-3 px
(about 3 % of the width), by normalised cross-correlation; the frame's score is the mean over the
textured blocks of (1 - best correlation), from 0 (same picture) to 1 (nothing alike). So:
- correlation ignores brightness and contrast: lighting changes are not cuts;
- the shift search absorbs pans, and per-block shifts absorb slow zooms and small movements;
- a cut changes every block, a person or car moving through the picture changes only some.
A frame starts a new shot when its score exceeds the recent level of motion (the mean score over
the last `motion_window_s`) by `threshold`: a busy shot needs a bigger jump than a still close-up.
Measured by bench/bench_shots.py on real clips, every frame and every 3rd: cuts rise >= 0.56 above
the motion level, continuous footage (pans, zooms, heads, passing cars) <= 0.2, and a cut between
close-ups of two people from the same photo >= 0.53; about 0.5 ms a frame on a 2-core CPU.

It misses cuts between two face-centred close-ups of different people at the same framing (8-14
of 69 in bench/bench_cuts.py, 4 of 60 in a held-out talk show), so the pipeline uses
`screentime.vision.cut_model.CutDetector`, which compares the thumbnails' fine detail too. This
one stays for bench/bench_shots.py's comparison.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

import cv2
import numpy as np
import pyarrow as pa

from screentime.contracts.tables import SHOTS_SCHEMA


@dataclass(frozen=True)
class Shot:
    """One shot, in source frames: `first_frame`..`last_frame` inclusive; `end_s` is exclusive
    (the next shot's `start_s`), so consecutive shots tile the episode with no gap."""

    shot: int
    first_frame: int
    last_frame: int
    start_s: float
    end_s: float


def shots_from_starts(starts: list[int], last_index: int, fps: float, frame_count: int | None,
                      start_times: list[float] | None = None, end_s: float | None = None) -> list[Shot]:
    """The shots that begin at `starts` (source frames, ascending), the last one running to
    `frame_count` or past `last_index`, the last frame seen, whichever is later.

    Times are the stream's when given: `start_times` (each start's presentation time; shot 0
    starts at 0) and `end_s` (the episode's end); otherwise frame / fps."""
    if not starts:
        return []
    if not fps > 0:
        raise ValueError("fps must be > 0")
    bounds = [*starts, max(frame_count or 0, last_index + 1)]
    times = [0.0, *(start_times or [])[1:]] if start_times else [first / fps for first in starts]
    ends = [*times[1:], end_s if end_s is not None else bounds[-1] / fps]
    return [Shot(k, first, nxt - 1, times[k], max(ends[k], times[k]))
            for k, (first, nxt) in enumerate(pairwise(bounds))]


def grey_thumbnail(image: np.ndarray, width: int, min_height: int, oversample: int) -> np.ndarray:
    """`image` (BGR, BGRA or grey, any size) as a float32 grey thumbnail `width` px wide: first
    interpolated to `oversample` x the thumbnail when it is that big, then area-averaged down, so
    the pixel noise is averaged out at a cost that does not grow with the frame."""
    h, w = image.shape[:2]
    th = max(min_height, round(h * width / w))
    if w >= oversample * width:
        image = cv2.resize(image, (oversample * width, oversample * th), interpolation=cv2.INTER_LINEAR)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
    interpolation = cv2.INTER_AREA if w >= 2 * width else cv2.INTER_LINEAR
    return cv2.resize(image, (width, th), interpolation=interpolation).astype(np.float32)


def block_spreads(image: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """The standard deviation of each block of a `grid` (columns, rows) over `image`."""
    gx, gy = grid
    bh, bw = image.shape[0] // gy, image.shape[1] // gx
    return image[: gy * bh, : gx * bw].reshape(gy, bh, gx, bw).std(axis=(1, 3))


class _Thumb:
    """A frame as the detector compares it: the thumbnail, its edge-padded copy, block spreads."""

    __slots__ = ("grey", "padded", "spread")

    def __init__(self, grey: np.ndarray, padded: np.ndarray, spread: np.ndarray):
        self.grey = grey
        self.padded = padded
        self.spread = spread


class ShotDetector:
    """Streaming hard-cut detector; feed it every sampled frame, in order.

    `update` returns True when the frame starts a new shot. The first frame starts shot 0 and
    returns False (it is not a cut); `shot` is the current shot's index (0 until the first cut).
    Cuts closer than `min_shot_s` to the previous one (or to the first frame) are ignored
    (flashes, a blended frame at a cut). Only hard cuts are meant: a slow dissolve changes each
    frame too little to count.
    """

    def __init__(
        self,
        threshold: float = 0.3,
        min_shot_s: float = 0.3,
        motion_window_s: float = 0.5,
        thumb_width: int = 96,
        grid: tuple[int, int] = (4, 2),
        max_shift: int = 3,
        flat_std: float = 4.0,
    ):
        """
        threshold: how far a frame's score (0..1) must rise above the recent motion level.
        min_shot_s: seconds from the start of a shot before another cut is accepted.
        motion_window_s: seconds of recent scores averaged into the motion level.
        thumb_width, grid (columns, rows), max_shift (px in the thumbnail): the comparison.
        flat_std: a block whose grey levels spread less than this has no texture to compare.
        """
        gx, gy = grid
        if not 0 < threshold <= 1:
            raise ValueError("threshold must be in (0, 1]")
        if min_shot_s < 0 or motion_window_s < 0:
            raise ValueError("min_shot_s and motion_window_s must be >= 0")
        if gx < 1 or gy < 1 or max_shift < 0 or thumb_width < 4 * gx:
            raise ValueError("grid must be >= (1, 1), max_shift >= 0, thumb_width >= 4 px a column")
        self.threshold = float(threshold)
        self.min_shot_s = float(min_shot_s)
        self.motion_window_s = float(motion_window_s)
        self.thumb_width = int(thumb_width)
        self.grid = (int(gx), int(gy))
        self.max_shift = int(max_shift)
        self.flat_std = float(flat_std)
        self.shot = 0
        self.score = 0.0  # the last frame's score against the frame before
        self.level = 0.0  # the motion level that score was compared with
        self._starts: list[int] = []  # each shot's first frame
        self._start_times: list[float] = []  # each shot's first frame's presentation time
        self._prev: _Thumb | None = None
        self._last_index = -1
        self._shot_start_s = 0.0
        # (timestamp_s, score) of recent frames that were no cut; kept across cuts, as the camera
        # style of one shot says much about the next.
        self._recent: deque[tuple[float, float]] = deque()

    @property
    def settings(self) -> dict:
        """The settings, for a manifest."""
        return {
            "threshold": self.threshold, "min_shot_s": self.min_shot_s,
            "motion_window_s": self.motion_window_s, "thumb_width": self.thumb_width,
            "grid": list(self.grid), "max_shift": self.max_shift, "flat_std": self.flat_std,
        }

    @property
    def cuts(self) -> list[int]:
        """The first frame of every shot after the first."""
        return self._starts[1:]

    def update(self, frame_index: int, timestamp_s: float, image_bgr: np.ndarray) -> bool:
        """Take the next sampled frame (BGR or grey, any size); True if it starts a new shot."""
        if frame_index <= self._last_index:
            raise ValueError(f"frames must come in order: {frame_index} after {self._last_index}")
        thumb = self._thumbnail(image_bgr)
        prev, self._prev = self._prev, thumb
        self._last_index = frame_index
        if prev is None:
            self._starts.append(0)  # shot 0 covers the episode from its start
            self._start_times.append(0.0)
            self._shot_start_s = timestamp_s
            return False
        self.score = self._score(prev, thumb)
        self.level = self._motion_level(timestamp_s)
        is_cut = (self.score - self.level >= self.threshold
                  and timestamp_s - self._shot_start_s >= self.min_shot_s - 1e-9)
        if is_cut:
            self.shot += 1
            self._starts.append(frame_index)
            self._start_times.append(timestamp_s)
            self._shot_start_s = timestamp_s
        else:
            # The cut's own score stays out: it says nothing about motion within a shot.
            self._recent.append((timestamp_s, self.score))
        return is_cut

    def shots(self, fps: float, frame_count: int | None = None, end_s: float | None = None) -> list[Shot]:
        """The shots so far, the last one running to `frame_count` (default: the last frame seen).

        A cut is seen at the first sampled frame of the new shot, so the frames skipped between
        two samples are counted in the earlier shot.
        """
        return shots_from_starts(self._starts, self._last_index, fps, frame_count, self._start_times, end_s)

    def _motion_level(self, now_s: float) -> float:
        recent = self._recent
        while recent and recent[0][0] < now_s - self.motion_window_s - 1e-9:
            recent.popleft()
        return sum(s for _, s in recent) / len(recent) if recent else 0.0

    def _thumbnail(self, image: np.ndarray) -> _Thumb:
        # Area averaging over the whole frame would be the cleanest shrink, but its cost grows with
        # the frame (0.2-0.6 ms for 640 x 360 here); interpolating to twice the thumbnail and
        # averaging 2 x 2 costs a fixed ~0.15 ms and scores the test clips the same.
        grey = grey_thumbnail(image, self.thumb_width, 4 * self.grid[1], oversample=2)
        spread = block_spreads(grey, self.grid)
        m = self.max_shift
        padded = cv2.copyMakeBorder(grey, m, m, m, m, cv2.BORDER_REPLICATE)
        return _Thumb(grey, padded, spread)

    def _score(self, prev: _Thumb, cur: _Thumb) -> float:
        if prev.grey.shape != cur.grey.shape:
            return 1.0  # the picture changed size: nothing to compare
        gx, gy = self.grid
        h, w = cur.grey.shape
        bh, bw, m = h // gy, w // gx, self.max_shift
        total, blocks = 0.0, 0
        for by in range(gy):
            for bx in range(gx):
                cur_flat = cur.spread[by, bx] < self.flat_std
                prev_flat = prev.spread[by, bx] < self.flat_std
                if cur_flat and prev_flat:
                    continue  # plain in both (sky, a wall, black): says nothing
                blocks += 1
                if cur_flat or prev_flat:
                    total += 1.0  # texture appeared or vanished
                    continue
                y, x = by * bh, bx * bw
                match = cv2.matchTemplate(prev.padded[y: y + bh + 2 * m, x: x + bw + 2 * m],
                                          cur.grey[y: y + bh, x: x + bw], cv2.TM_CCOEFF_NORMED)
                best = float(match.max())
                total += min(1.0, max(0.0, 1.0 - best)) if math.isfinite(best) else 1.0
        return total / blocks if blocks else 0.0


def shots_table(shots: Iterable[Shot]) -> pa.Table:
    """The rows of shots.parquet."""
    shots = list(shots)
    return pa.table({
        "shot": [s.shot for s in shots], "first_frame": [s.first_frame for s in shots],
        "last_frame": [s.last_frame for s in shots], "start_s": [s.start_s for s in shots],
        "end_s": [s.end_s for s in shots],
    }, schema=SHOTS_SCHEMA)
