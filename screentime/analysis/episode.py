"""One episode, one decoding pass: sampled frames → face detections → tracks → crops.

`analyze_episode` is the whole pipeline as a plain function (the Dagster assets call it; tests and
the benchmark call it directly). Frames stream through: decode (background thread) → batched
detection → tracking → JPEG exports (background threads). Only the small per-frame and per-face
rows are kept, and returned as Arrow tables.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from screentime.analysis.checks import boxes_mostly_outside
from screentime.analysis.exports import REPORTED_FAILURES, ExportWriter
from screentime.analysis.face_samples import FaceSampler
from screentime.contracts.episode import EpisodeId
from screentime.contracts.layout import EpisodeLayout
from screentime.contracts.manifest import Counts, Timings
from screentime.contracts.options import RunOptions
from screentime.contracts.progress import ProgressRecord
from screentime.contracts.settings import load_settings
from screentime.contracts.tables import CROPS_SCHEMA, DETECTIONS_SCHEMA, FRAMES_SCHEMA, TRACKS_SCHEMA
from screentime.progress.clock import ProgressClock
from screentime.storage import Storage
from screentime.vision.cut_model import CutDetector
from screentime.vision.detectors import DetectorInfo, load_detector
from screentime.vision.devices import gpu_memory_budget, resolve_device
from screentime.vision.flow import FaceFlow
from screentime.vision.memory import budget_bytes, plan_frames
from screentime.vision.regions import FullPassSchedule
from screentime.vision.shots import shots_table
from screentime.vision.small_faces import FINE, FOLLOWED, DetectorInputs, SmallFacePolicy, detect_frames
from screentime.vision.tracking import FaceTracker
from screentime.vision.video import (
    FrameReader,
    SampledFrame,
    VideoInfo,
    batched,
    effective_fps,
    expected_sampled_frames,
)

CROP_MARGIN = 0.2  # crops extend the face box by this fraction on each side


@dataclass
class EpisodeAnalysis:
    ep: EpisodeId
    run_id: str
    source: VideoInfo
    options: RunOptions
    device: str
    decoder: str  # the decoder and where it decoded (DecoderChoice.label), e.g. "pyav on cpu"
    detector: DetectorInfo
    tracker: dict
    analysis_fps: float
    frames: pa.Table
    detections: pa.Table
    tracks: pa.Table
    crops: pa.Table
    shots: pa.Table
    faces: pa.Table
    frames_unreadable: int
    frames_decoded: int
    boxes_outside: int  # boxes the detector put mostly outside the frame (before clipping)
    export_failures: int
    seconds: float
    frames_fine: int = 0  # frames detected in full at a larger input than det_size (see screentime.vision.small_faces)
    frames_followed: int = 0  # frames whose faces were followed between full passes (see screentime.vision.regions)
    timestamp_repairs: int = 0  # times the stream's presentation times went backwards (see FrameReader)
    artifacts: dict[str, str] = field(default_factory=dict)

    @property
    def episode_frames(self) -> int:
        """The episode's length in frames: what decoded."""
        return self.source.frame_count

    @property
    def counts(self) -> Counts:
        return Counts(
            frames_analyzed=self.frames.num_rows,
            frames_decoded=self.frames_decoded,
            detections=self.detections.num_rows,
            tracks=self.tracks.num_rows,
            shots=self.shots.num_rows,
            frames_saved=self.frames.num_rows - self.frames["path"].null_count,
            crops_saved=self.crops.num_rows,
            frames_unreadable=self.frames_unreadable,
            export_failures=self.export_failures,
            frames_fine=self.frames_fine,
            frames_followed=self.frames_followed,
            timestamp_repairs=self.timestamp_repairs,
        )

    @property
    def timings(self) -> Timings:
        n = self.frames.num_rows
        return Timings(seconds=round(self.seconds, 3), fps=round(n / self.seconds, 3) if self.seconds else 0.0)


CPU_FULL_DETECT_EVERY = 8  # measured on the CPU (docs/performance.md, "Detect less, track more")


def full_detect_every(asked: int, device: str) -> int:
    """`full_detect_every` for a run: as asked, or for 0 (auto) CPU_FULL_DETECT_EVERY on the CPU and
    1 on CUDA, where a batch of full frames costs less than following faces on the CPU (the flow
    runs at ~250 frames/s a core; the GPU detects thousands)."""
    if asked:
        return asked
    return 1 if device.startswith("cuda") else CPU_FULL_DETECT_EVERY


def crop_region(box: np.ndarray, width: int, height: int, margin: float = CROP_MARGIN) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (float(v) for v in box)
    dx, dy = (x2 - x1) * margin, (y2 - y1) * margin
    return (max(0, int(x1 - dx)), max(0, int(y1 - dy)), min(width, int(np.ceil(x2 + dx))),
            min(height, int(np.ceil(y2 + dy))))


class _Columns:
    """Append-only column buffers, turned into an Arrow table once at the end."""

    def __init__(self, *names: str):
        self.data: dict[str, list] = {name: [] for name in names}

    def add(self, **values) -> None:
        for name, value in values.items():
            self.data[name].append(value)

    def extend(self, **values) -> None:
        for name, value in values.items():
            self.data[name].extend(value)

    def table(self, schema: pa.Schema) -> pa.Table:
        return pa.table({name: self.data[name] for name in schema.names}, schema=schema)


def _tracks_table(tracker: FaceTracker) -> pa.Table:
    cols = _Columns(*TRACKS_SCHEMA.names)
    for track_id in sorted(tracker.tracks):
        t = tracker.tracks[track_id]
        best = int(np.argmax(t.scores))
        cols.add(
            track_id=track_id, shot=t.shot, first_frame=t.frames[0], last_frame=t.frames[-1], start_s=t.timestamps[0],
            end_s=t.timestamps[-1], detections=len(t.frames), mean_score=float(np.mean(t.scores)),
            best_frame=t.frames[best], best_score=t.scores[best], frames=t.frames, boxes=t.boxes,
        )
    return cols.table(TRACKS_SCHEMA)


def decoded_source(source: VideoInfo, reader: FrameReader,
                   on_warning: Callable[[str], object] | None = None) -> VideoInfo:
    """The video as it decoded: its frame count and length are what decoded, never the header's
    claim (kept as `announced_frame_count`); a header that claims more, or times that went
    backwards, are said in a warning."""
    warn = on_warning or (lambda message: None)
    announced = source.frame_count if source.count_trusted else None
    if not source.count_trusted:
        warn(f"the container announces more frames than {source.path} can hold; frame counts "
             f"are what decoded ({reader.frames_decoded})")
    elif reader.frames_unreadable:
        warn(f"the container announces {source.frame_count:,} frames ({source.duration_s:,.1f} s) but "
             f"{reader.frames_decoded:,} decoded ({reader.stream_seconds:,.1f} s): the file is cut short or its "
             f"header is wrong; frame counts, times and shares are what decoded")
    if reader.timestamp_repairs:
        warn(f"the stream's times went backwards {reader.timestamp_repairs} time(s) (joined recordings or a "
             f"timestamp reset); times go on from the previous frame (counts.timestamp_repairs)")
    return replace(source, frame_count=reader.frames_decoded, stream_seconds=round(reader.stream_seconds, 6),
                   announced_frame_count=announced, count_trusted=True)


def _written_prefixes(storage: Storage, layout: EpisodeLayout, run_id: str, frames: pa.Table,
                      crops: pa.Table) -> dict[str, str]:
    """The URI prefix of each artifact kind this run really wrote (tables always)."""
    wrote = {"frames": frames["path"].null_count < frames.num_rows, "crops": crops.num_rows > 0, "manifests": True}
    return {kind: storage.uri(prefix) for kind, prefix in layout.run_prefixes(run_id).items() if wrote[kind]}


def analyze_episode(
    ep: EpisodeId,
    source: VideoInfo,
    run_id: str,
    options: RunOptions,
    storage: Storage,
    on_progress: Callable[[ProgressRecord], object] | None = None,
    on_warning: Callable[[str], object] | None = None,
) -> EpisodeAnalysis:
    """Analyse one episode in a single decoding pass; JPEGs go to `storage` as they are made."""
    started = time.monotonic()
    device = resolve_device(options.device)
    clock = ProgressClock(str(ep), run_id, device, expected_sampled_frames(source, options.fps), on_progress)
    clock.update("starting", 0, force=True)  # loading the model can take a while, on a GPU especially
    # Both detectors take any input size, so one model per process serves every det_size and rung.
    detector = load_detector(options.detector, device, options.detector_weights)
    analysis_fps = effective_fps(source.fps, options.fps)
    layout = EpisodeLayout(ep)
    inputs = DetectorInputs.for_video(source.width, source.height, options.det_size)
    det_width, det_height = inputs.sizes[0]  # det_size's input; the decoder makes it (FrameReader)
    small_faces = SmallFacePolicy(inputs.scales, options.small_face_px)
    schedule = FullPassSchedule(full_detect_every(options.full_detect_every, device))
    flow = FaceFlow(source.width, source.height) if schedule.enabled and small_faces.enabled else None
    plan = plan_frames(source.width, source.height, det_width, det_height,
                       options.batch_size or (32 if device.startswith("cuda") else 2), budget_bytes(),
                       detector_budget=gpu_memory_budget(device), save_frames=options.save_frames,
                       largest_input=inputs.largest if small_faces.enabled else None)
    if plan.warning and on_warning is not None:
        on_warning(plan.warning)
    batch_size = plan.batch_size
    shots = CutDetector()

    def find_cut(frame: SampledFrame) -> None:  # in the decoding thread: it overlaps with detection
        frame.cut = shots.update(frame.index, frame.timestamp_s, frame.det_image)

    reader = FrameReader(source, options.fps, options.det_size, queue_size=plan.queue_frames, device=device,
                         decoder=load_settings().decoder, on_warning=on_warning, on_sampled=find_cut)  # NVDEC on CUDA
    tracker = FaceTracker(analysis_fps)
    sampler = FaceSampler()
    writer = ExportWriter(storage, options.jpeg_quality, max_pending=plan.pending_exports, on_warning=on_warning)
    frames = _Columns(*FRAMES_SCHEMA.names)
    dets = _Columns(*DETECTIONS_SCHEMA.names)
    crops = _Columns(*CROPS_SCHEMA.names)
    last_crop_at: dict[int, float] = {}
    previous_rows = 0  # where the previous analysed frame's detections start in `dets`
    done = 0
    frames_fine = frames_followed = 0
    boxes_outside = 0
    clock.update("detecting", 0, force=True)
    try:
        for batch in batched(iter(reader), batch_size):
            cuts = [f.cut for f in batch]
            starts = cuts if done else [True, *cuts[1:]]  # the episode's first frame starts a shot too
            detected = detect_frames(detector, batch, starts, small_faces, inputs, options.min_score, schedule, flow)
            for frame, (faces, how), cut in zip(batch, detected, cuts, strict=True):
                frames_fine += how == FINE
                frames_followed += how == FOLLOWED
                if cut:
                    tracker.cut()  # no track crosses a cut
                boxes_outside += boxes_mostly_outside(faces.xyxy, source.width, source.height)
                faces = faces.clipped(source.width, source.height)  # then the tables hold in-frame boxes
                ids = tracker.update(frame.index, frame.timestamp_s, faces)
                for det_index, track_id in tracker.confirmed:  # a new track's first face, one frame back
                    dets.data["track_id"][previous_rows + det_index] = track_id
                previous_rows = len(dets.data["track_id"])
                frame_path = None
                if options.save_frames:
                    key = layout.frame_key(run_id, frame.index)
                    writer.submit(key, frame.image)
                    frame_path = storage.uri(key)
                frames.add(frame_index=frame.index, timestamp_s=frame.timestamp_s, faces=len(faces), path=frame_path,
                           duration_s=frame.duration_s)
                n = len(faces)
                if n:
                    dets.extend(
                        frame_index=[frame.index] * n, timestamp_s=[frame.timestamp_s] * n, track_id=ids.tolist(),
                        x1=faces.xyxy[:, 0].tolist(), y1=faces.xyxy[:, 1].tolist(), x2=faces.xyxy[:, 2].tolist(),
                        y2=faces.xyxy[:, 3].tolist(), score=faces.score.tolist(),
                        landmarks=faces.landmarks.reshape(n, 10).tolist(),
                    )
                for i in np.flatnonzero(ids >= 0):
                    sampler.offer(int(ids[i]), frame.index, frame.timestamp_s, float(faces.score[i]), faces.xyxy[i],
                                  faces.landmarks[i], frame.image)
                if options.save_crops:
                    for i in np.flatnonzero(ids >= 0):
                        track_id = int(ids[i])
                        last = last_crop_at.get(track_id)
                        if last is not None and frame.timestamp_s - last < options.crop_every_s:
                            continue
                        last_crop_at[track_id] = frame.timestamp_s
                        x1, y1, x2, y2 = crop_region(faces.xyxy[i], source.width, source.height)
                        key = layout.crop_key(run_id, track_id, frame.index)
                        writer.submit(key, frame.image[y1:y2, x1:x2].copy())
                        crops.add(track_id=track_id, frame_index=frame.index, timestamp_s=frame.timestamp_s,
                                  x1=x1, y1=y1, x2=x2, y2=y2, score=float(faces.score[i]), path=storage.uri(key))
            done += len(batch)
            clock.update("detecting", done)
        clock.update("exporting", done, force=True)
    finally:
        writer.close()
    frames_table, crops_table = frames.table(FRAMES_SCHEMA), crops.table(CROPS_SCHEMA)
    if writer.failed > REPORTED_FAILURES and on_warning is not None:
        on_warning(f"{writer.failed} JPEG exports failed in all (counts.export_failures); the first "
                   f"{REPORTED_FAILURES} were reported above")
    decoded = decoded_source(source, reader, on_warning)
    if writer.failed_keys:  # the tables only point at JPEGs that were really written
        failed = pa.array(sorted(storage.uri(key) for key in writer.failed_keys))
        frame_failed = pc.is_in(frames_table["path"], value_set=failed)
        frames_table = frames_table.set_column(
            frames_table.schema.get_field_index("path"), "path",
            pc.if_else(frame_failed, pa.scalar(None, pa.string()), frames_table["path"]))
        crops_table = crops_table.filter(pc.invert(pc.is_in(crops_table["path"], value_set=failed)))
    return EpisodeAnalysis(
        ep=ep, run_id=run_id, source=decoded, options=options, device=device, decoder=reader.decoder.label,
        detector=detector.info,
        tracker=tracker.info, analysis_fps=analysis_fps, frames=frames_table,
        detections=dets.table(DETECTIONS_SCHEMA), tracks=_tracks_table(tracker), crops=crops_table,
        shots=shots_table(shots.shots(source.fps, decoded.frame_count, end_s=decoded.duration_s)),
        faces=sampler.table(),
        frames_unreadable=reader.frames_unreadable, frames_decoded=reader.frames_decoded,
        timestamp_repairs=reader.timestamp_repairs,
        boxes_outside=boxes_outside, export_failures=writer.failed, frames_fine=frames_fine,
        frames_followed=frames_followed,
        seconds=time.monotonic() - started,
        artifacts=_written_prefixes(storage, layout, run_id, frames_table, crops_table),
    )
