"""Publishing an episode: `manifest.json` written last and atomically, the run's commit point.

Afterwards every other run folder of the episode (older results, crashed attempts) is deleted,
so a re-run replaces rather than accumulates. Only one run of an episode may be active at a time
(see `screentime.library.runs`... enforced by the Dagster layer), so nothing live is pruned.
"""

from __future__ import annotations

from pydantic import ValidationError

from screentime.analysis.episode import EpisodeAnalysis
from screentime.contracts.episode import EpisodeId, parse_episode_id
from screentime.contracts.layout import KINDS, EpisodeLayout, is_run_id
from screentime.contracts.manifest import Manifest, ModelInfo, SourceVideo
from screentime.contracts.progress import utc_now
from screentime.library.failures import FailureLedgers
from screentime.storage import Storage


def manifest_for(analysis: EpisodeAnalysis) -> Manifest:
    """Everything the manifest says about a finished analysis; `created_at` is set on publishing."""
    return Manifest(
        ep_id=str(analysis.ep),
        run_id=analysis.run_id,
        source=SourceVideo(**analysis.source.as_dict()),
        options=analysis.options,
        analysis_fps=round(analysis.analysis_fps, 6),
        device=analysis.device,
        decoder=analysis.decoder,
        detector=ModelInfo(**analysis.detector.as_dict()),
        tracker=analysis.tracker,
        counts=analysis.counts,
        timings=analysis.timings,
        artifacts=analysis.artifacts,
    )


def publish_manifest(storage: Storage, manifest: Manifest) -> tuple[Manifest, int]:
    """Write manifest.json atomically, then delete the episode's other run folders and its failure
    ledger (an episode that succeeded is no longer retried or quarantined).

    Returns the published manifest (with `created_at`) and how many stale objects were removed.
    """
    published = manifest.model_copy(update={"created_at": utc_now()})
    layout = EpisodeLayout(parse_episode_id(published.ep_id))
    storage.put_text(layout.manifest_key, published.model_dump_json(indent=2), "application/json")
    pruned = prune_other_runs(storage, layout, keep=published.run_id)
    FailureLedgers(storage).clear(layout.ep)
    return published, pruned


def prune_other_runs(storage: Storage, layout: EpisodeLayout, keep: str) -> int:
    """Delete every run folder of the episode but `keep`'s, also empty ones and those holding only
    temp files a killed writer left. A folder whose name is no run id is not a run's: left alone."""
    removed = 0
    for kind in KINDS:
        prefix = layout.episode_prefix(kind)
        for run_id in {name for name in storage.list_folders(prefix) if is_run_id(name)} - {keep}:
            removed += storage.delete_prefix(f"{prefix}{run_id}/")
    return removed


def discard_run(storage: Storage, ep: EpisodeId, run_id: str) -> int:
    """Remove what a run that failed (or was cancelled or killed) left: partial JPEGs and tables,
    temp files, empty folders. Its progress history stays, so whoever follows the run sees its end;
    a published run is never touched. Returns how many objects were removed."""
    layout = EpisodeLayout(ep)
    manifest = read_manifest(storage, ep)
    if manifest is not None and manifest.run_id == run_id:
        return 0
    history_key = layout.progress_history_key(run_id)
    try:
        history = storage.get_bytes(history_key)
    except FileNotFoundError:
        history = None
    removed = sum(storage.delete_prefix(layout.run_prefix(kind, run_id)) for kind in KINDS)
    if history is not None:
        storage.put_bytes(history_key, history)
        removed -= 1
    return removed


def discard_stale_runs(storage: Storage, ep: EpisodeId, run_id: str) -> int:
    """Before run `run_id` writes anything: discard what earlier failed or killed runs of the episode
    left (only one run of an episode goes at a time, so every other unpublished run folder is stale;
    a folder whose name is no run id, e.g. one someone made as progress.json, is left alone)."""
    manifest = read_manifest(storage, ep)
    keep = {run_id} | ({manifest.run_id} if manifest is not None else set())
    layout = EpisodeLayout(ep)
    folders = set().union(*(storage.list_folders(layout.episode_prefix(kind)) for kind in KINDS))
    stale = {name for name in folders if is_run_id(name)} - keep  # a folder that is no run's is not ours
    return sum(discard_run(storage, ep, stale_run) for stale_run in sorted(stale))


def read_manifest(storage: Storage, ep: EpisodeId) -> Manifest | None:
    """The episode's published manifest; None when there is none, or it is not a valid manifest
    (a manifest that cannot be read does not vouch for any outputs)."""
    try:
        return Manifest.model_validate_json(storage.get_text(EpisodeLayout(ep).manifest_key))
    except FileNotFoundError:
        return None
    except (ValidationError, ValueError):
        return None
