"""Request and response models of the sidecar (they are what `/docs` shows)."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from screentime.contracts.episode import EPISODE_ID_JSON_PATTERN, parse_episode_id
from screentime.contracts.layout import RUN_ID_JSON_PATTERN
from screentime.contracts.options import RunOptions
from screentime.contracts.people import PeopleRegistry


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


# The grammars as JSON Schema patterns, for the OpenAPI document, from the contracts that validate
# them (`parse_episode_id`, `validate_run_id`), and SSE event ids (a seq).
EPISODE_ID_PATTERN = EPISODE_ID_JSON_PATTERN
EPISODE_ID_EXAMPLE = "the-office-s02e07"
RUN_ID_PATTERN = RUN_ID_JSON_PATTERN
EVENT_ID_PATTERN = r"^[0-9]{0,18}$"


class LaunchRequest(RunOptions):
    """An episode and its run options (the same names as the CLI flags and the launchpad)."""

    ep_id: str = Field(description="Episode id, e.g. the-office-s02e07",
                       json_schema_extra={"pattern": EPISODE_ID_PATTERN, "examples": [EPISODE_ID_EXAMPLE]})
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


class EditResponse(BaseModel):
    """The registry version an edit (or undo) made: the page's next edits name it as base_version."""

    version: int
    reason: str = Field(description="what the edit did, in one line (as the history keeps it)")
    updated_by: str
    updated_at: str

    @classmethod
    def of(cls, registry: PeopleRegistry) -> "EditResponse":
        return cls(version=registry.version, reason=registry.reason, updated_by=registry.updated_by,
                   updated_at=registry.updated_at)


class ErrorResponse(BaseModel):
    detail: str = Field(description="What was wrong, in one line")


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="Where: the request part, then the field")
    msg: str


class ValidationErrorResponse(ErrorResponse):
    """A request that failed validation: one line naming every problem, and the same per field."""

    errors: list[FieldError] = Field(default_factory=list)


class Health(BaseModel):
    status: str
    open_streams: int = Field(description="Event streams being served now")
    followed_runs: int = Field(description="Runs being read for their followers (one reader each)")
    tasks: int = Field(description="asyncio tasks in the server process")
