"""The progress record contract: one JSON object per update, the latest as progress.json.

`ratio` never goes backwards within a run and reaches 1.0 only on the terminal `done` record;
`screentime.progress.clock` produces the records, `screentime.progress.store` writes them.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal, get_args

from pydantic import BaseModel, Field

from screentime.contracts.manifest import Counts

# In run order. `queued`: launched, not started yet (the API reports it); `starting`: loading the
# model; `detecting`: decoding + detection + tracking; `exporting`: the last JPEGs; `embedding` and
# `grouping`: people from the tracks; then one terminal record, `done` or `error`.
Phase = Literal["queued", "starting", "detecting", "exporting", "embedding", "grouping", "done", "error"]
PHASES: tuple[str, ...] = get_args(Phase)
TERMINAL_PHASES = ("done", "error")


class ProgressRecord(BaseModel):
    ep_id: str
    run_id: str
    phase: Phase = Field(description="what the run is doing: " + ", ".join(PHASES))
    frames_done: int = 0
    frames_total: int = 0
    ratio: float = Field(0.0, ge=0.0, le=1.0)
    seconds: float = Field(0.0, description="elapsed since the run started")
    fps: float = Field(0.0, description="analysed frames per second so far")
    eta_seconds: float | None = Field(None, description="estimated seconds left; null until known")
    device: str = ""
    updated_at: str = ""
    seq: int = 0
    counts: Counts | None = Field(None, description="on the terminal `done` record: the manifest's counts")
    artifacts: dict[str, str] | None = None
    error_type: str | None = None
    error: str | None = None

    @property
    def terminal(self) -> bool:
        return self.phase in TERMINAL_PHASES


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
