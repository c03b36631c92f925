"""Where each episode of a show stands: done, outdated, failed, quarantined, queued, running or new.

`screentime status SHOW` gathers the facts (the videos root, manifests, failure ledgers, progress,
and from Dagster the runs in flight and the recorded code versions) and `episode_status` turns them
into one state and a one-line detail per episode.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from screentime.analysis.versions import catch_up_reason
from screentime.contracts.episode import EpisodeId
from screentime.contracts.manifest import Manifest
from screentime.contracts.progress import ProgressRecord
from screentime.library.discovery import EpisodeVideo, is_processed
from screentime.library.failures import FailureLedger, RetryPolicy, decide

STATES = ("running", "queued", "quarantined", "failed", "outdated", "done", "new")


@dataclass(frozen=True)
class EpisodeStatus:
    ep_id: str
    state: str
    detail: str
    video: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class EpisodeFacts:
    ep: EpisodeId
    video: EpisodeVideo | None = None
    manifest: Manifest | None = None
    ledger: FailureLedger | None = None
    latest: ProgressRecord | None = None
    in_flight: tuple[str, str] | None = None  # ("queued" | "running", run id)
    recorded_version: str | None = None  # the code version Dagster recorded for its analysis


def episode_status(facts: EpisodeFacts, current_version: str, policy: RetryPolicy, now: datetime) -> EpisodeStatus:
    ep, video, manifest = facts.ep, facts.video, facts.manifest

    def status(state: str, detail: str) -> EpisodeStatus:
        return EpisodeStatus(str(ep), state, detail, video.location if video else "")

    if facts.in_flight is not None:
        state, run_id = facts.in_flight
        return status(state, f"run {run_id}")
    decision = decide(facts.ledger, video.fingerprint if video else "", policy, now)
    if decision.action == "quarantined":
        return status("quarantined", f"{decision.reason}; `screentime retry {ep}` or a new file lifts it")
    if decision.failures:
        return status("failed", decision.reason)
    latest = facts.latest
    if manifest is None and latest is not None and latest.phase == "error":
        return status("failed", f"run {latest.run_id}: {latest.error_type}: {latest.error}")
    if manifest is None:
        return status("new", "not analysed yet" if video else "no video in the videos root, no manifest")
    done = f"run {manifest.run_id} at {manifest.created_at}: {manifest.counts.tracks} tracks"
    if video is not None and not is_processed(video, manifest):
        return status("outdated", f"the video changed after its manifest ({done})")
    if catch_up_reason(True, facts.recorded_version, current_version):
        return status("outdated", f"analysed by another code version ({done}); the nightly schedule re-runs it")
    return status("done", done)
