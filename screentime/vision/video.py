"""Reading episode videos: probe, then decode once, streaming, sampled to the analysis rate.

Decoding runs in a background thread that feeds a small bounded queue, so it overlaps with
inference and memory stays flat however long the episode is. The same thread scales each kept
frame to the detector's input size, so the main thread only runs the model. The decoder behind it
(screentime.vision.decoding) is one interface for the CPU and CUDA: `device="cuda:N"` decodes on
NVDEC and scales on the GPU, the CPU decodes with PyAV (or OpenCV, or torchcodec, by name).

Times come from the stream: each frame's presentation time (FFmpeg's PTS, from the stream's
start), not its index over the container's average frame rate, which is wrong for a
variable-frame-rate episode (a frame 20 s in was placed at 3 s). Sampling keeps at most one frame
per `1 / fps` seconds of that time.

Times are made monotone: where they go backwards (two recordings joined, an MPEG-TS timestamp
reset or wrap) the stream goes on from the previous frame, and `timestamp_repairs` counts it. Each
frame stands for the time until the next one, capped at `hold_cap` (a jump in the stream is not
seconds on screen): a sampled frame's `duration_s` runs to the next sampled frame, and the
episode's length is what decoded (`stream_seconds`), never what the container's header claims.
"""

from __future__ import annotations

import math
import queue
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from screentime.contracts.errors import VideoError
from screentime.vision.decoding import DecoderChoice, choose_decoder, open_decoder
from screentime.vision.decoding import resize_for_detector as resize_for_detector  # small_faces uses it

# No real video stores a frame in fewer bytes than this (container overhead alone is more): a frame
# count above file size / this is a header that lies (a crafted AVI announced 10^9 frames).
MIN_BYTES_PER_FRAME = 8
# A frame stands for the time until the next one, but never longer than this (or two sampling
# intervals, when sampling is sparser): a longer gap is a hole in the stream, not a frame on screen.
MAX_FRAME_HOLD_S = 2.0


def hold_cap(analysis_fps: float) -> float:
    """The longest a frame may stand for, in seconds, at this sampling rate (0 = every frame)."""
    return max(MAX_FRAME_HOLD_S, 2.0 / analysis_fps) if analysis_fps > 0 else MAX_FRAME_HOLD_S


@dataclass(frozen=True)
class VideoInfo:
    path: str
    fps: float
    frame_count: int  # as announced by the container (capped when it cannot be true); after decoding, what decoded
    width: int
    height: int
    count_trusted: bool = True  # False: no count, or an impossible one; counts come from decoding
    stream_seconds: float | None = None  # after decoding: the decoded stream's length
    announced_frame_count: int | None = None  # after decoding: what the container announced

    @property
    def duration_s(self) -> float:
        if self.stream_seconds is not None:
            return self.stream_seconds
        return self.frame_count / self.fps if self.fps > 0 else 0.0

    def as_dict(self) -> dict:
        return {
            "path": self.path,
            "fps": round(self.fps, 6),
            "frame_count": self.frame_count,
            "duration_s": round(self.duration_s, 3),
            "width": self.width,
            "height": self.height,
            "announced_frame_count": self.announced_frame_count,
        }


@dataclass
class SampledFrame:
    index: int  # frame number in the source video
    timestamp_s: float
    image: np.ndarray  # full-resolution BGR
    det_image: np.ndarray  # BGR scaled to the detector's input (may be `image` itself)
    duration_s: float = 0.0  # the time it stands for: until the next sampled frame (capped)
    cut: bool = False  # it starts a new shot (set by the reader's `on_sampled`, e.g. the cut detector)


# Still-image signatures: FFmpeg opens an image as a one-frame "video", so without this check a
# photo renamed .mp4 would be analysed as an episode of one frame.
_IMAGE_SIGNATURES = {
    b"\xff\xd8\xff": "a JPEG image", b"\x89PNG\r\n\x1a\n": "a PNG image", b"GIF87a": "a GIF image",
    b"GIF89a": "a GIF image", b"BM": "a BMP image", b"II*\x00": "a TIFF image", b"MM\x00*": "a TIFF image",
}


def _still_image_kind(path: Path) -> str | None:
    with open(path, "rb") as handle:
        head = handle.read(16)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "a WebP image"
    return next((kind for signature, kind in _IMAGE_SIGNATURES.items() if head.startswith(signature)), None)


def probe_video(path: str | Path) -> VideoInfo:
    """Open a video and read its first frame; raise VideoError with a clear reason otherwise."""
    p = Path(path)
    if not p.exists():
        raise VideoError(f"video not found: {p}")
    if not p.is_file():
        raise VideoError(f"video path is not a file: {p}")
    if p.stat().st_size == 0:
        raise VideoError(f"video file is empty: {p}")
    image = _still_image_kind(p)
    if image is not None:
        raise VideoError(f"not a video: {p} is {image}")
    cap = cv2.VideoCapture(str(p))
    try:
        if not cap.isOpened():
            raise VideoError(f"not a readable video (cannot open): {p}")
        ok, frame = cap.read()
        if not ok or frame is None:
            raise VideoError(f"not a readable video (no decodable frames): {p}")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not math.isfinite(fps) or fps <= 0 or fps > 1000:
            raise VideoError(f"video has no usable frame rate ({fps}): {p}")
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        possible = max(1, p.stat().st_size // MIN_BYTES_PER_FRAME)
        height, width = frame.shape[:2]
        trusted = 0 < count <= possible  # a raw stream has no count at all (OpenCV reads garbage)
        return VideoInfo(str(p), fps, min(max(count, 1), possible), width, height, count_trusted=trusted)
    finally:
        cap.release()


def sampling_step(source_fps: float, analysis_fps: float) -> float:
    """Source frames per analysed frame (1.0 = every frame)."""
    if analysis_fps <= 0 or analysis_fps >= source_fps:
        return 1.0
    return source_fps / analysis_fps


def effective_fps(source_fps: float, analysis_fps: float) -> float:
    return source_fps / sampling_step(source_fps, analysis_fps)


def expected_sampled_frames(info: VideoInfo, analysis_fps: float) -> int:
    step = sampling_step(info.fps, analysis_fps)
    return max(1, math.ceil(info.frame_count / step))


def detector_scale(width: int, height: int, det_size: int) -> float:
    """Scale factor from source to detector input: shrink to `det_size` on the long side, never grow."""
    if det_size <= 0:
        return 1.0
    return min(1.0, det_size / max(width, height))


def detector_input_size(width: int, height: int, det_size: int) -> tuple[int, int]:
    """(width, height) of the detector's input for frames of this size."""
    scale = detector_scale(width, height, det_size)
    return max(1, round(width * scale)), max(1, round(height * scale))


class FrameReader:
    """Iterate the sampled frames of a video, decoded in a background thread.

    `frames_decoded` counts every frame the decoder produced and `stream_seconds` the time they
    stand for (each until the next, capped); `timestamp_repairs` counts the times the stream's
    presentation times went backwards and were continued. After iteration, `frames_unreadable` is
    how many of the frames the container announced could not be decoded (a truncated file).

    `device` (cpu or cuda:N) is where frames decode and scale; `decoder` names a backend (auto:
    torchcodec on CUDA, PyAV on the CPU). Where torchcodec cannot load, frames decode on the CPU
    and `on_warning` (or Python's warnings) says so once. `on_sampled` is called in the decoding
    thread on each sampled frame, in order, before it is handed over: work that needs no model
    (the cut detector) overlaps with detection there.
    """

    def __init__(self, info: VideoInfo, analysis_fps: float, det_size: int, queue_size: int = 16,
                 device: str = "cpu", decoder: str = "auto", on_warning: Callable[[str], object] | None = None,
                 on_sampled: Callable[[SampledFrame], object] | None = None):
        self.info = info
        self.on_sampled = on_sampled
        self.decoder: DecoderChoice = choose_decoder(device, decoder)
        if self.decoder.warning is not None:
            if on_warning is not None:
                on_warning(self.decoder.warning)
            else:
                warnings.warn(self.decoder.warning, RuntimeWarning, stacklevel=2)
        self.step = sampling_step(info.fps, analysis_fps)
        self.scale = detector_scale(info.width, info.height, det_size)
        self.det_width, self.det_height = detector_input_size(info.width, info.height, det_size)
        self.hold_cap = hold_cap(effective_fps(info.fps, analysis_fps) if self.step > 1.0 else 0.0)
        self.frames_decoded = 0
        self.stream_seconds = 0.0
        self.timestamp_repairs = 0
        self._offset = 0.0  # added to the stream's times after a reset
        self._gap = 1.0 / info.fps  # the latest frame-to-frame step, for frames without a time
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._error: BaseException | None = None

    @property
    def frames_unreadable(self) -> int:
        """Announced frames that did not decode: 0 when the announced count was not believable, or
        when the decoded stream is as long as the container said (its count was an estimate)."""
        if not self.info.count_trusted or self.frames_decoded >= self.info.frame_count:
            return 0
        announced_s = self.info.frame_count / self.info.fps
        if announced_s - self.stream_seconds <= max(1.0, 0.01 * announced_s):
            return 0
        return self.info.frame_count - self.frames_decoded

    def _timestamp(self, pts_s: float | None, index: int, previous: float) -> float:
        """The frame's presentation time in seconds, made monotone."""
        known = pts_s is not None and math.isfinite(pts_s) and pts_s > 0  # 0: no time (OpenCV's NOPTS)
        if index == 0:
            return pts_s if known else 0.0
        if not known:  # no time (a raw stream): one step on
            return previous + self._gap
        timestamp = pts_s + self._offset
        if timestamp <= previous:  # backwards: a reset or a join; go on from the previous frame
            self.timestamp_repairs += 1
            self._offset += previous + self._gap - timestamp
            return previous + self._gap
        return timestamp

    def _decode(self) -> None:
        frames = open_decoder(self.info.path, (self.det_width, self.det_height), self.scale, self.decoder)
        pending: SampledFrame | None = None  # sent once the next sampled frame gives its duration
        timestamp = 0.0
        try:
            index = 0
            next_keep = 0.0  # seconds
            interval = self.step / self.info.fps if self.step > 1.0 else 0.0  # 1 / fps, or every frame
            for frame in frames:
                if self._stop.is_set():
                    break
                previous = timestamp
                timestamp = self._timestamp(frame.pts_s, index, previous)
                if index > 0:
                    gap = timestamp - previous
                    if gap <= self.hold_cap:
                        self._gap = gap
                    self.stream_seconds += min(gap, self.hold_cap)
                self.frames_decoded += 1
                if timestamp + 1e-3 >= next_keep:  # containers round times to the millisecond
                    next_keep += interval
                    if next_keep <= timestamp:  # after a gap in the stream: one frame, not a burst
                        next_keep = timestamp + interval
                    pixels = frame.pixels()
                    if pixels is not None:
                        image, det = pixels
                        if pending is not None:
                            pending.duration_s = min(timestamp - pending.timestamp_s, self.hold_cap)
                            self._put(pending)
                        pending = SampledFrame(index, timestamp, image, det)
                        if self.on_sampled is not None:
                            self.on_sampled(pending)
                index += 1
            if self.frames_decoded:
                self.stream_seconds += min(self._gap, self.hold_cap)  # the last frame's own time
            if pending is not None and not self._stop.is_set():
                end = timestamp + min(self._gap, self.hold_cap)
                pending.duration_s = min(end - pending.timestamp_s, self.hold_cap)
                self._put(pending)
        except BaseException as exc:  # surfaced to the consumer
            self._error = exc
        finally:
            frames.close()
            self._put_end()

    def _put(self, item: SampledFrame) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _put_end(self) -> None:
        while True:
            try:
                self._queue.put(None, timeout=0.1)
                return
            except queue.Full:
                if self._stop.is_set():
                    return

    def __iter__(self) -> Iterator[SampledFrame]:
        thread = threading.Thread(target=self._decode, name="screentime-decode", daemon=True)
        thread.start()
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    break
                yield item
            if self._error is not None:
                raise VideoError(f"decoding failed: {self._error}") from self._error
        finally:
            self._stop.set()
            while thread.is_alive():
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    pass
                thread.join(timeout=0.05)


def batched(frames: Iterator[SampledFrame], size: int) -> Iterator[list[SampledFrame]]:
    batch: list[SampledFrame] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
