"""One decoder interface for the CPU and CUDA: frames in stream order, each with its presentation
time, and its pixels (BGR at the source size, plus the detector's smaller copy) only when asked.

`open_decoder(path, size, scale, device)` picks the backend:

- `torchcodec` decodes on the CPU or on the GPU's NVDEC with the same calls (`Demuxer`,
  `VideoPacketDecoder`, `ColorConverter`, all with `device`), converts and scales each kept frame
  with torch ops on that device, and only then copies it to the host. The CUDA path is this code
  with `device="cuda:N"`; the tests run it with `device="cpu"`.
- `pyav` (PyAV) and `opencv` decode on the CPU with FFmpeg too. On the CPU the default is PyAV,
  the fastest of the three there (bench/gpu_check.py measures them; docs/gpu.md).

torchcodec needs FFmpeg's shared libraries from the system (`make install` installs them where it
can). Where it cannot be loaded, a CUDA run decodes with PyAV on the CPU instead and says so once.

A frame's pixels are only valid until the next frame is drawn (OpenCV's retrieve after grab).
Decoding errors inside the stream skip the packet, as FFmpeg's own tools do; an error reading the
container ends the stream there (a truncated file), and the reader counts what did not decode.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

BACKENDS = ("pyav", "opencv", "torchcodec")
CPU_DEFAULT = "pyav"  # measured fastest on the CPU (docs/gpu.md)

Pixels = tuple[np.ndarray, np.ndarray]  # (BGR at the source size, BGR at the detector's input)


def resize_for_detector(image: np.ndarray, size: tuple[int, int], scale: float) -> np.ndarray:
    """`image` scaled to a detector input of `size` (width, height). Area averaging avoids aliasing
    on strong downscales but costs ~3x a bilinear resize; down to half size, bilinear keeps the
    faces the detector needs."""
    if image.shape[1::-1] == size:
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR if scale >= 0.5 else cv2.INTER_AREA)


@dataclass
class DecodedFrame:
    """One decoded frame: `pts_s` is its presentation time in seconds from the stream's start
    (None when the stream gives none); `pixels()` converts it (None when it cannot), valid until
    the next frame is drawn."""

    pts_s: float | None
    pixels: Callable[[], Pixels | None]


@cache
def torchcodec_problem() -> str | None:
    """Why torchcodec cannot decode here (not installed, or FFmpeg's libraries missing), or None."""
    try:
        from torchcodec.decoders import ColorConverter, Demuxer  # noqa: F401
    except Exception as exc:  # ImportError, or RuntimeError/OSError from loading FFmpeg
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"{type(exc).__name__}: {first}"
    return None


@dataclass(frozen=True)
class DecoderChoice:
    backend: str
    device: str  # where frames decode: cpu or cuda:N
    warning: str | None = None  # set when the backend asked for could not be used

    @property
    def label(self) -> str:
        return f"{self.backend} on {self.device}"


def choose_decoder(device: str = "cpu", backend: str = "auto") -> DecoderChoice:
    """The backend for frames on `device` (cpu or cuda:N): torchcodec on CUDA, the CPU default on
    the CPU; `backend` names one. Where torchcodec cannot load, PyAV on the CPU, with a warning."""
    if backend not in ("auto", *BACKENDS):
        raise ValueError(f"unknown decoder {backend!r}: use auto, {', '.join(BACKENDS)}")
    if device != "cpu" and not device.startswith("cuda"):
        raise ValueError(f"unknown decode device {device!r}: use cpu or cuda:N")
    if backend == "auto":
        backend = "torchcodec" if device.startswith("cuda") else CPU_DEFAULT
    if backend != "torchcodec" and device != "cpu":
        raise ValueError(f"the {backend} decoder runs on the CPU only; use torchcodec for {device}")
    if backend == "torchcodec":
        problem = torchcodec_problem()
        if problem is not None:
            return DecoderChoice(
                CPU_DEFAULT,
                "cpu",
                warning=(
                    f"torchcodec cannot be loaded ({problem}); decoding with {CPU_DEFAULT} on the CPU instead. "
                    "GPU decoding needs torchcodec and FFmpeg's shared libraries (make install; docs/gpu.md)"
                ),
            )
    return DecoderChoice(backend, device)


def open_decoder(path: str, size: tuple[int, int], scale: float, choice: DecoderChoice) -> Iterator[DecodedFrame]:
    """The frames of `path` in stream order; `size` (width, height) and `scale` are the detector's
    input (see resize_for_detector). Closing the iterator releases the decoder."""
    if choice.backend == "opencv":
        return _opencv_frames(path, size, scale)
    if choice.backend == "pyav":
        return _pyav_frames(path, size, scale)
    return _torchcodec_frames(path, size, scale, choice.device)


def _opencv_frames(path: str, size: tuple[int, int], scale: float) -> Iterator[DecodedFrame]:
    cap = cv2.VideoCapture(path)

    def pixels() -> Pixels | None:
        ok, image = cap.retrieve()
        if not ok or image is None:
            return None
        return image, resize_for_detector(image, size, scale)

    try:
        while cap.grab():
            pts_ms = cap.get(cv2.CAP_PROP_POS_MSEC)  # FFmpeg's PTS from the stream's start; 0 when none
            yield DecodedFrame(pts_ms / 1000.0 if math.isfinite(pts_ms) and pts_ms > 0 else None, pixels)
    finally:
        cap.release()


def _pyav_frames(path: str, size: tuple[int, int], scale: float) -> Iterator[DecodedFrame]:
    import av

    container = av.open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame threads: a stream of one slice per frame decodes in parallel
        start = stream.start_time or 0
        tick = stream.time_base.numerator / stream.time_base.denominator  # seconds

        def frame_of(frame) -> DecodedFrame:
            # OpenCV's arithmetic (ticks x time base in ms, then / 1000), so the times are its times to the bit
            pts = None if frame.pts is None else (frame.pts - start) * tick * 1000.0 / 1000.0

            def pixels() -> Pixels:
                image = frame.to_ndarray(format="bgr24")
                turns = round(frame.rotation / 90) % 4 if frame.rotation else 0  # upright, as OpenCV shows it
                if turns:
                    image = np.ascontiguousarray(np.rot90(image, turns))
                return image, resize_for_detector(image, size, scale)

            return DecodedFrame(pts, pixels)

        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.FFmpegError:  # the container is cut short or broken here: the stream ends
                break
            try:
                frames = packet.decode()  # the empty flush packet at the end drains the codec
            except av.FFmpegError:  # a damaged packet: skip it, as FFmpeg does
                continue
            for frame in frames:
                yield frame_of(frame)
    finally:
        container.close()


def _torchcodec_frames(path: str, size: tuple[int, int], scale: float, device: str) -> Iterator[DecodedFrame]:
    import torch
    from torchcodec.decoders import ColorConverter, Demuxer

    demuxer = Demuxer(path)
    stream = demuxer.streams[0]
    start = stream.metadata.begin_stream_seconds_from_header or 0.0
    decoder = stream.make_decoder(device=device, num_ffmpeg_threads=0)  # CPU: FFmpeg's threads; NVDEC: unused
    converter = ColorConverter(device=device)

    def frame_of(raw) -> DecodedFrame:
        pts = raw.pts_seconds
        pts = None if pts is None or not math.isfinite(pts) else pts - start

        def pixels() -> Pixels:
            with torch.inference_mode():
                rgb = converter.convert(raw).data  # uint8 (3, H, W) on `device`, upright
                det = scale_on_device(rgb, size, scale)  # on the device, before anything is copied
                image = to_host_bgr(rgb)
                return image, image if det is rgb else to_host_bgr(det)

        return DecodedFrame(pts, pixels)

    def drained() -> Iterator:
        for packet in demuxer:
            try:
                frames = decoder.decode(packet)
            except RuntimeError:  # a damaged packet: skip it, as FFmpeg does
                continue
            yield from frames
        yield from decoder.drain()

    raws = drained()
    while True:
        try:
            raw = next(raws)
        except StopIteration:
            break
        except RuntimeError:  # the container is cut short or broken here: the stream ends
            break
        yield frame_of(raw)


def scale_on_device(rgb, size: tuple[int, int], scale: float):
    """A (3, H, W) uint8 tensor scaled to `size` (width, height) where it lies (CPU or GPU), with
    the filters resize_for_detector uses: bilinear down to half size, area averaging below."""
    import torch.nn.functional as F

    width, height = size
    if (rgb.shape[2], rgb.shape[1]) == (width, height):
        return rgb
    x = rgb.unsqueeze(0).float()
    if scale >= 0.5:
        x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)
    else:
        x = F.interpolate(x, size=(height, width), mode="area")
    return x.round_().clamp_(0, 255).to(rgb.dtype)[0]


def to_host_bgr(rgb) -> np.ndarray:
    """A (3, H, W) RGB tensor as a host (H, W, 3) BGR array, as OpenCV gives frames: the channels
    swap on the GPU before the copy, on the CPU with OpenCV (a strided torch flip costs ~10x more)."""
    hwc = rgb.permute(1, 2, 0)
    if hwc.is_cuda:
        return swap_channels(hwc).cpu().numpy()
    return cv2.cvtColor(np.ascontiguousarray(hwc.numpy()), cv2.COLOR_RGB2BGR)


def swap_channels(hwc):
    """RGB <-> BGR of an (H, W, 3) tensor, contiguous, where it lies."""
    return hwc.flip(-1).contiguous()
