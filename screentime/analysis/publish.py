"""The manifest contract: `manifest.json` per episode, written last and atomically.

Its presence means the episode's outputs are complete. Publishing it is the commit point of a
run: afterwards every other run folder of the episode (older results, crashed attempts) is
deleted, so a re-run replaces rather than accumulates.
"""

from __future__ import annotations

import json

from screentime.analysis.episode import EpisodeAnalysis
from screentime.contracts.episode import EpisodeId
from screentime.contracts.layout import KINDS, EpisodeLayout
from screentime.contracts.progress import utc_now
from screentime.storage import Storage

MANIFEST_VERSION = 1


def manifest_for(analysis: EpisodeAnalysis) -> dict:
    """Everything the manifest says about a finished analysis, except `created_at`."""
    options = analysis.options.model_dump()
    return {
        "manifest_version": MANIFEST_VERSION,
        "ep_id": str(analysis.ep),
        "run_id": analysis.run_id,
        "source": analysis.source.as_dict(),
        "options": options,
        "analysis_fps": round(analysis.analysis_fps, 6),
        "device": analysis.device,
        "detector": analysis.detector.as_dict(),
        "tracker": analysis.tracker,
        "counts": analysis.counts,
        "timings": analysis.timings,
        "artifacts": analysis.artifacts,
    }


def finalize_manifest(fields: dict) -> dict:
    return {**fields, "created_at": utc_now()}


def publish_manifest(storage: Storage, manifest: dict) -> int:
    """Write manifest.json atomically, then delete the episode's other run folders.

    Returns how many stale objects were removed.
    """
    from screentime.contracts.episode import parse_episode_id

    layout = EpisodeLayout(parse_episode_id(manifest["ep_id"]))
    storage.put_text(layout.manifest_key, json.dumps(manifest, indent=2, sort_keys=True), "application/json")
    return prune_other_runs(storage, layout, keep=manifest["run_id"])


def prune_other_runs(storage: Storage, layout: EpisodeLayout, keep: str) -> int:
    removed = 0
    for kind in KINDS:
        prefix = layout.episode_prefix(kind)
        for run_id in layout.run_folders(kind, storage.list_keys(prefix)) - {keep}:
            removed += storage.delete_prefix(f"{prefix}{run_id}/")
    return removed


def read_manifest(storage: Storage, ep: EpisodeId) -> dict | None:
    key = EpisodeLayout(ep).manifest_key
    try:
        return json.loads(storage.get_text(key))
    except FileNotFoundError:
        return None
