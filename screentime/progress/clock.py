"""The clock that turns (phase, frames done) updates into progress records (ratio, fps, ETA).

A record is emitted every `every_frames` frames or `every_s` seconds, whichever comes first.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from screentime.contracts.progress import ProgressRecord, utc_now


class ProgressClock:
    """Turns (phase, frames done) updates into progress records, rate-limited."""

    def __init__(
        self,
        ep_id: str,
        run_id: str,
        device: str,
        frames_total: int,
        emit: Callable[[ProgressRecord], Any] | None = None,
        every_frames: int = 25,
        every_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.ep_id, self.run_id, self.device = ep_id, run_id, device
        self.frames_total = max(0, int(frames_total))
        self.emit = emit
        self.every_frames, self.every_s = every_frames, every_s
        self.clock = clock
        self.started = clock()
        self.seq = 0
        self.ratio = 0.0
        self.frames_done = 0
        self._last_emit_frames = -1
        self._last_emit_time = -1e18

    def _record(self, phase: str, **extra: Any) -> ProgressRecord:
        elapsed = max(0.0, self.clock() - self.started)
        fps = self.frames_done / elapsed if elapsed > 0 else 0.0
        if phase == "done":
            self.ratio, eta = 1.0, 0.0
        else:
            if self.frames_total > 0:
                # Below 1.0 until the run is really done: exporting still follows the last frame.
                self.ratio = max(self.ratio, min(self.frames_done / self.frames_total, 0.999))
            eta = None
            if fps > 0 and self.frames_total > 0:
                eta = max(0.0, (self.frames_total - self.frames_done) / fps)
        self.seq += 1
        return ProgressRecord(
            ep_id=self.ep_id, run_id=self.run_id, phase=phase, frames_done=self.frames_done,
            frames_total=self.frames_total, ratio=round(self.ratio, 6), seconds=round(elapsed, 3),
            fps=round(fps, 3), eta_seconds=None if eta is None else round(eta, 3),
            device=self.device, updated_at=utc_now(), seq=self.seq, **extra,
        )

    def _send(self, record: ProgressRecord) -> ProgressRecord:
        if self.emit is not None:
            self.emit(record)
        return record

    def mark(self, phase: str, frames_done: int) -> ProgressRecord:
        """Say that a phase has begun, with no rate and no ETA: the steps after the analysis
        (embedding, grouping) have no frame rate to report, and `frames_done / seconds` over a
        clock started a moment ago would claim one (155,000 frames/s)."""
        self.frames_done = max(self.frames_done, int(frames_done))
        self.frames_total = max(self.frames_total, self.frames_done)
        self._last_emit_frames, self._last_emit_time = self.frames_done, self.clock()
        return self._send(self._record(phase).model_copy(update={"fps": 0.0, "eta_seconds": None}))

    def update(self, phase: str, frames_done: int, force: bool = False) -> ProgressRecord | None:
        """Report progress; returns the record when one was emitted (rate-limited unless forced)."""
        self.frames_done = max(self.frames_done, int(frames_done))
        if self.frames_done > self.frames_total:  # the container under-reported its length
            self.frames_total = self.frames_done
        now = self.clock()
        due = (
            force
            or self.frames_done - self._last_emit_frames >= self.every_frames
            or now - self._last_emit_time >= self.every_s
        )
        if not due:
            return None
        self._last_emit_frames, self._last_emit_time = self.frames_done, now
        return self._send(self._record(phase))

    def error(self, exc: BaseException) -> ProgressRecord:
        message = str(exc).strip()
        if not message:  # e.g. Dagster's interrupt of a cancelled run carries no text
            message = type(exc).__name__ if isinstance(exc, Exception) else "interrupted: the run was cancelled"
        return self._send(self._record("error", error_type=type(exc).__name__, error=message[:2000]))
