"""Request and response models of the sidecar (they are what `/docs` shows)."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from screentime.episode import parse_episode_id
from screentime.options import RunOptions


class EpisodeSummary(BaseModel):
    ep_id: str
    run_id: str
    phase: str = Field(description="starting, detecting, exporting, done or error")
    ratio: float
    frames_done: int
    frames_total: int
    eta_seconds: float | None
    device: str
    updated_at: str
    complete: bool = Field(description="the episode has a manifest.json (its outputs are complete)")


class EpisodeList(BaseModel):
    episodes: list[EpisodeSummary]


class LaunchRequest(RunOptions):
    """An episode and its run options (the same names as the CLI flags and the launchpad)."""

    ep_id: str = Field(description="Episode id, e.g. the-office-s02e07")
    video: str = Field(
        default="", description="Episode video as the Dagster run sees it; empty: "
        "<SCREENTIME_VIDEOS_DIR>/<show>/s<SS>e<EE>.mp4",
    )

    @field_validator("ep_id")
    @classmethod
    def _check_ep_id(cls, value: str) -> str:
        return str(parse_episode_id(value))


class LaunchResponse(BaseModel):
    run_id: str
    ep_id: str
    dagster_run_url: str = Field(description="The run in the Dagster UI")
    progress_url: str = Field(description="GET: the latest progress record")
    events_url: str = Field(description="GET: this run's progress as Server-Sent Events")


class ErrorResponse(BaseModel):
    detail: str
