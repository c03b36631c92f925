"""Hard cuts between close-ups of two different people at the same place: `CutDetector`.

`ShotDetector` (shots.py) compares 96 px grey thumbnails block by block by normalised correlation.
Two face-centred portraits of different people, framed alike over similar blurred backgrounds,
look alike to it: at that size a face is a bright oval with two dark eyes, the +-3 px shift search
aligns one face with the other (block correlation 0.85-0.93), and the blurred background blocks
match, so the frame's score stays under its threshold (bench/bench_cuts.py: 8 of 69 such cuts
missed in colour, 14 of 69 in greyscale; a held-out talk show: 4 of 60).

`CutDetector` keeps the thumbnail, the blocks, the motion level and the API, and changes what is
correlated and how:
- the detail of the thumbnail (the grey image minus its Gaussian blur, sigma 1 px) is compared
  besides the thumbnail itself. Detail is where two faces differ (eyes, mouth, hairline,
  glasses), and it ignores the shading that makes every face alike; blurred backgrounds have
  none, so they drop out (a block with no detail in either frame is not counted) instead of
  diluting the score. Each of the two has its own motion level, and a frame's margin is the
  larger of (score - level): the detail's at a cut between close-ups, the thumbnail's where
  neither frame has detail (out of focus, or detail drowned in noise);
- the thumbnail is made by interpolating to 4x its size and area-averaging 4 x 4, so that pixel
  noise does not reach the detail (ShotDetector's 2x keeps too much of it);
- the global shift between the two frames (phase correlation) is undone before the +-3 px search,
  so that a fast pan seen on every 3rd frame stays within it. Each block takes the better of the
  match around no shift and around the global shift, so a foreground object that misleads the
  phase correlation cannot make the background look changed;
- a block whose texture merely crosses the flat limit (std 4.1 in one frame, 3.9 in the next) is
  compared, not counted as "texture appeared" (which made a talking head score 1/8 on some frames).
A frame starts a new shot when its margin reaches `threshold` and `min_shot_s` has passed since
the last cut.

No lookahead: `update(frame)` answers for that frame, as ShotDetector does, so the tracker can end
its tracks before it sees the frame. No model, no GPU. Measured by bench/bench_cuts.py on real
photos and clips (268 hard cuts, 8.0 min; every frame and every 3rd; frames at det_size 320, the
pipeline's default, and 640): every cut found at the new shot's first sampled frame, no false cut;
cuts >= 0.41 above the motion level, continuous footage (pans, zooms, talking heads, cars passing
close) <= 0.25, threshold 0.33. About 2.3x ShotDetector's time: 1.7-1.9 ms against 0.8 ms a frame
in the same runs (one core of a loaded 2-core machine, where ShotDetector takes 0.5 ms when idle).
"""

from __future__ import annotations

import math
from collections import deque

import cv2
import numpy as np

from screentime.vision.shots import Shot, block_spreads, grey_thumbnail, shots_from_starts


class _Frame:
    """A frame as the detector compares it: the grey thumbnail, its detail, each block's spread."""

    __slots__ = ("grey", "detail", "spread")

    def __init__(self, grey: np.ndarray, detail: np.ndarray, spread: np.ndarray):
        self.grey, self.detail, self.spread = grey, detail, spread  # spread: (2, rows, columns)


class CutDetector:
    """Streaming hard-cut detector with ShotDetector's API; feed it every sampled frame, in order.

    `update` returns True when the frame starts a new shot (no lookahead: the answer is final when
    it is given). The first frame starts shot 0 and returns False; `shot` is the current shot's
    index. Cuts closer than `min_shot_s` to the previous one (or to the first frame) are ignored.
    Only hard cuts are meant: a slow dissolve changes each frame too little to count.
    """

    lookahead = 0  # sampled frames the detector must see after a frame before it can answer for it

    def __init__(
        self,
        threshold: float = 0.33,
        min_shot_s: float = 0.3,
        motion_window_s: float = 0.5,
        thumb_width: int = 96,
        grid: tuple[int, int] = (4, 2),
        max_shift: int = 3,
        detail_sigma: float = 1.0,
        flat_std: float = 4.0,
        flat_detail_std: float = 2.0,
    ):
        """
        threshold: how far a frame's score (0..1) must rise above the recent motion level.
        min_shot_s: seconds from the start of a shot before another cut is accepted.
        motion_window_s: seconds of recent scores averaged into the motion level.
        thumb_width, grid (columns, rows), max_shift (px in the thumbnail): the comparison.
        detail_sigma: the blur (px in the thumbnail) whose difference from the thumbnail is its detail.
        flat_std, flat_detail_std: a block spread less than this (grey levels) in both frames has
            no texture (no detail) to compare.
        """
        gx, gy = grid
        if not 0 < threshold <= 1:
            raise ValueError("threshold must be in (0, 1]")
        if min_shot_s < 0 or motion_window_s < 0:
            raise ValueError("min_shot_s and motion_window_s must be >= 0")
        if gx < 1 or gy < 1 or max_shift < 0 or thumb_width < 4 * gx:
            raise ValueError("grid must be >= (1, 1), max_shift >= 0, thumb_width >= 4 px a column")
        if detail_sigma <= 0 or flat_std < 0 or flat_detail_std < 0:
            raise ValueError("detail_sigma must be > 0, flat_std and flat_detail_std >= 0")
        self.threshold = float(threshold)
        self.min_shot_s = float(min_shot_s)
        self.motion_window_s = float(motion_window_s)
        self.thumb_width = int(thumb_width)
        self.grid = (int(gx), int(gy))
        self.max_shift = int(max_shift)
        self.detail_sigma = float(detail_sigma)
        self.flat_std = float(flat_std)
        self.flat_detail_std = float(flat_detail_std)
        self.shot = 0
        # The last frame's score against the frame before, and the motion level it was compared
        # with: those of the channel (thumbnail or detail) that rose more above its level.
        self.score = 0.0
        self.level = 0.0
        self.shift = (0.0, 0.0)  # the last global shift found (thumbnail px)
        self._starts: list[int] = []
        self._start_times: list[float] = []  # each shot's first frame's presentation time
        self._prev: _Frame | None = None
        self._last_index = -1
        self._shot_start_s = 0.0
        self._recent: deque[tuple[float, list[float]]] = deque()  # (timestamp_s, scores) of frames that were no cut
        self._window: np.ndarray | None = None  # the phase correlation's Hann window, per thumbnail size

    @property
    def settings(self) -> dict:
        """The settings, for a manifest."""
        return {
            "detector": "cut_model.CutDetector", "threshold": self.threshold, "min_shot_s": self.min_shot_s,
            "motion_window_s": self.motion_window_s, "thumb_width": self.thumb_width, "grid": list(self.grid),
            "max_shift": self.max_shift, "detail_sigma": self.detail_sigma, "flat_std": self.flat_std,
            "flat_detail_std": self.flat_detail_std,
        }

    @property
    def cuts(self) -> list[int]:
        """The first frame of every shot after the first."""
        return self._starts[1:]

    def update(self, frame_index: int, timestamp_s: float, image_bgr: np.ndarray) -> bool:
        """Take the next sampled frame (BGR, BGRA or grey, any size); True if it starts a new shot."""
        if frame_index <= self._last_index:
            raise ValueError(f"frames must come in order: {frame_index} after {self._last_index}")
        cur = self._thumbnail(image_bgr)
        prev, self._prev = self._prev, cur
        self._last_index = frame_index
        if prev is None:
            self._starts.append(0)  # shot 0 covers the episode from its start
            self._start_times.append(0.0)
            self._shot_start_s = timestamp_s
            return False
        scores = self._score(prev, cur)
        levels = self._motion_levels(timestamp_s)
        margins = [s - lv for s, lv in zip(scores, levels, strict=True)]
        best = int(np.argmax(margins))
        self.score, self.level = scores[best], levels[best]
        is_cut = (margins[best] >= self.threshold
                  and timestamp_s - self._shot_start_s >= self.min_shot_s - 1e-9)
        if is_cut:
            self.shot += 1
            self._starts.append(frame_index)
            self._start_times.append(timestamp_s)
            self._shot_start_s = timestamp_s
        else:
            self._recent.append((timestamp_s, scores))
        return is_cut

    def shots(self, fps: float, frame_count: int | None = None, end_s: float | None = None) -> list[Shot]:
        """The shots so far, the last one running to `frame_count` (default: the last frame seen);
        the frames skipped between two samples count in the earlier shot (as ShotDetector.shots)."""
        return shots_from_starts(self._starts, self._last_index, fps, frame_count, self._start_times, end_s)

    # ------------------------------------------------------------------ internals

    def _motion_levels(self, now_s: float) -> list[float]:
        recent = self._recent
        while recent and recent[0][0] < now_s - self.motion_window_s - 1e-9:
            recent.popleft()
        if not recent:
            return [0.0, 0.0]
        return [sum(s[c] for _, s in recent) / len(recent) for c in range(2)]

    def _thumbnail(self, image: np.ndarray) -> _Frame:
        # Interpolating straight to the thumbnail would keep the pixel noise that the detail channel
        # must not see; area-averaging the whole frame costs ~0.55 ms at 640 x 360. Interpolating to
        # 4x the thumbnail and then area-averaging 4 x 4 costs ~0.35 ms and averages the noise out
        # (noise of std 16 grey levels added to 640 px frames: at 2x, as ShotDetector does it, it hid
        # 14 of 25 face cuts from the detail, at 4x none; bench/bench_cuts.py --det-size 640 --noise).
        # Frames under 4x the thumbnail (det_size 320) are area-averaged straight away.
        grey = grey_thumbnail(image, self.thumb_width, 4 * self.grid[1], oversample=4)
        detail = grey - cv2.GaussianBlur(grey, (0, 0), self.detail_sigma)
        spread = np.stack([block_spreads(x, self.grid) for x in (grey, detail)])
        return _Frame(grey, detail, spread)

    def _global_shift(self, prev: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
        if self._window is None or self._window.shape != cur.shape:
            self._window = cv2.createHanningWindow((cur.shape[1], cur.shape[0]), cv2.CV_32F)
        (dx, dy), _ = cv2.phaseCorrelate(prev, cur, self._window)
        h, w = cur.shape
        if not (math.isfinite(dx) and math.isfinite(dy)) or abs(dx) > w / 4 or abs(dy) > h / 4:
            return 0.0, 0.0
        return float(dx), float(dy)

    def _score(self, prev: _Frame, cur: _Frame) -> list[float]:
        """The mean block distance of the thumbnail and of its detail."""
        if prev.grey.shape != cur.grey.shape:
            return [1.0, 1.0]  # the picture changed size: nothing to compare
        dx, dy = self.shift = self._global_shift(prev.grey, cur.grey)
        moved = abs(dx) >= 0.5 or abs(dy) >= 0.5
        m = self.max_shift
        channel_scores = []  # the thumbnail's, its detail's
        for c, (p_img, c_img, flat) in enumerate(((prev.grey, cur.grey, self.flat_std),
                                                   (prev.detail, cur.detail, self.flat_detail_std))):
            pads = [cv2.copyMakeBorder(p_img, m, m, m, m, cv2.BORDER_REPLICATE)]
            if moved:  # the previous frame moved by the global shift, so the search is centred on it
                shifted = cv2.warpAffine(p_img, np.float32([[1, 0, dx], [0, 1, dy]]), (p_img.shape[1], p_img.shape[0]),
                                         flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                pads.append(cv2.copyMakeBorder(shifted, m, m, m, m, cv2.BORDER_REPLICATE))
            channel_scores.append(self._blocks(pads, c_img, prev.spread[c], cur.spread[c], flat))
        return channel_scores

    def _blocks(self, prev_pads: list[np.ndarray], cur: np.ndarray, prev_spread: np.ndarray,
                cur_spread: np.ndarray, flat: float) -> float:
        gx, gy = self.grid
        h, w = cur.shape
        bh, bw, m = h // gy, w // gx, self.max_shift
        total, blocks = 0.0, 0
        for by in range(gy):
            for bx in range(gx):
                lo, hi = sorted((float(prev_spread[by, bx]), float(cur_spread[by, bx])))
                if hi < flat:
                    continue  # no texture in either frame: says nothing
                blocks += 1
                if lo < 0.25 * hi and lo < flat:
                    total += 1.0  # texture appeared or vanished (not merely crossed the limit)
                    continue
                y, x = by * bh, bx * bw
                block = cur[y: y + bh, x: x + bw]
                best = -1.0
                for pad in prev_pads:
                    r = float(cv2.matchTemplate(pad[y: y + bh + 2 * m, x: x + bw + 2 * m], block,
                                                cv2.TM_CCOEFF_NORMED).max())
                    if math.isfinite(r):
                        best = max(best, r)
                total += min(1.0, max(0.0, 1.0 - best))
        return total / blocks if blocks else 0.0
