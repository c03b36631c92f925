"""The manifest contract: `manifest.json` per episode, written last; its presence means the
episode's outputs are complete. One model serves the writer, the terminal progress record, the
API's responses and the page.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from screentime.contracts.options import RunOptions

MANIFEST_VERSION = 2


class Counts(BaseModel):
    """What a run produced. Saved counts only count files that were really written."""

    model_config = ConfigDict(extra="forbid")

    frames_analyzed: int = Field(0, description="analysed (sampled) frames")
    frames_decoded: int = Field(0, description="frames the decoder produced (the container may claim more or fewer)")
    detections: int = Field(0, description="face boxes")
    tracks: int = Field(0, description="face tracks (none crosses a shot cut)")
    shots: int = Field(0, description="shots: the episode cut at its hard cuts")
    people: int = Field(0, description="people: the tracks grouped by face")
    frames_saved: int = Field(0, description="frame JPEGs written")
    crops_saved: int = Field(0, description="crop JPEGs written")
    frames_unreadable: int = Field(0, description="frames the container announced that could not be decoded "
                                   "(a file cut short, or a header that claims more than the stream holds)")
    timestamp_repairs: int = Field(0, description="times the stream's presentation times went backwards (joined "
                                   "recordings, a timestamp reset) and were continued from the previous frame")
    export_failures: int = Field(0, description="JPEG writes that failed (warnings, not errors)")
    frames_fine: int = Field(0, description="frames detected in full at a larger input than det_size because their "
                             "shot had faces under small_face_px, or to look for them (a shot's first frame)")
    frames_followed: int = Field(0, description="frames between full passes (full_detect_every) in shots of small "
                                 "faces: their faces followed from the previous frame by optical flow, and only "
                                 "the strips of new picture at their edges detected; the others were detected in full")


class Timings(BaseModel):
    seconds: float = Field(description="wall-clock seconds of the analysis")
    fps: float = Field(description="analysed frames per second")


class SourceVideo(BaseModel):
    path: str = Field(description="the video as given (path or s3:// URI)")
    fps: float = Field(description="the container's frame rate (its average, for a variable-rate stream)")
    frame_count: int = Field(description="frames that decoded (not the header's claim)")
    duration_s: float = Field(description="seconds of decoded stream: each frame stands for the time until the "
                              "next (capped), so gaps and resets in the stream add nothing")
    width: int
    height: int
    announced_frame_count: int | None = Field(None, description="the frame count the container announced "
                                              "(none when it announced none, or an impossible one)")


class ModelInfo(BaseModel):
    """Which model made the numbers: a change of any field marks the episode outdated."""

    name: str
    version: str
    weights_sha256: str
    backend: str = ""


class Manifest(BaseModel):
    manifest_version: int = MANIFEST_VERSION
    ep_id: str
    run_id: str
    source: SourceVideo
    options: RunOptions
    analysis_fps: float = Field(description="the rate frames were analysed at")
    device: str
    decoder: str = Field("", description="the decoder and where it decoded, e.g. 'pyav on cpu', "
                         "'torchcodec on cuda:0' (empty in manifests from before it was recorded)")
    detector: ModelInfo
    tracker: dict[str, Any]
    counts: Counts
    timings: Timings
    artifacts: dict[str, str] = Field(description="URI prefix of each artifact kind that this run wrote")
    created_at: str = Field("", description="UTC time the manifest was published")
