"""The one owner of an episode run's facts: which analysis run the episode's tables belong to, and
that analysis's manifest.

The analysis step records them once, as metadata of its `frames` materialisation in Dagster's
event log (`analysis_facts`). Everything downstream reads them from there through `episode_run`:
the IO manager (which run folder a table goes to), the identity assets, the asset checks and
`manifests`. Tables carry no routing facts of their own, so a `select`, a `cast` or a pandas
round-trip of a table changes nothing about where it goes or what is published.

In the run that analysed the episode (the episode job), the facts are that run's. In a run that
only re-derives tables from an analysis (people again after a review, say), they are those of the
analysis the published manifest names: its tables are the ones that count.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from screentime.analysis.publish import read_manifest
from screentime.contracts.episode import parse_episode_id
from screentime.contracts.manifest import Manifest
from screentime.storage import Storage

ANALYSIS_ASSET = dg.AssetKey("frames")  # the analysis output that carries the facts
MANIFEST_KEY = "manifest"
BOXES_OUTSIDE_KEY = "boxes_outside_unclipped"


@dataclass(frozen=True)
class EpisodeRun:
    """An episode's analysis run: its id (its tables' folder) and its manifest (unpublished while
    the run goes; the published one for a run that re-derives tables)."""

    run_id: str
    manifest: Manifest
    boxes_outside_unclipped: int = 0  # the detector's boxes mostly outside the frame, before clipping


def analysis_facts(manifest: Manifest, boxes_outside_unclipped: int) -> dict:
    """The metadata the analysis step records on its `frames` output: the facts, once."""
    return {MANIFEST_KEY: dg.MetadataValue.json(manifest.model_dump(mode="json")),
            BOXES_OUTSIDE_KEY: boxes_outside_unclipped}


def episode_run(instance: dg.DagsterInstance, storage: Storage, partition: str, run_id: str) -> EpisodeRun:
    """The analysis run whose tables run `run_id` reads and writes for episode `partition`."""
    own = _frames_materialization(instance, partition, run_id)
    if own is not None:
        return _from_metadata(run_id, own.metadata)
    published = read_manifest(storage, parse_episode_id(partition))
    if published is None:
        raise dg.Failure(f"{partition} has no analysis in run {run_id} and no published manifest: "
                         "run the episode job for it")
    recorded = _frames_materialization(instance, partition, published.run_id)
    boxes = recorded.metadata.get(BOXES_OUTSIDE_KEY) if recorded is not None else None
    return EpisodeRun(published.run_id, published, int(boxes.value) if boxes is not None else 0)


def _from_metadata(run_id: str, metadata) -> EpisodeRun:
    if MANIFEST_KEY not in metadata:
        raise dg.Failure(f"the frames of run {run_id} record no manifest (materialised by an older version): "
                         "run the episode job again")
    boxes = metadata.get(BOXES_OUTSIDE_KEY)
    return EpisodeRun(run_id, Manifest.model_validate(metadata[MANIFEST_KEY].value),
                      int(boxes.value) if boxes is not None else 0)


def _frames_materialization(instance: dg.DagsterInstance, partition: str, run_id: str):
    """The `frames` materialisation of `partition` by run `run_id`, or None."""
    latest = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=ANALYSIS_ASSET, asset_partitions=[partition]), limit=1).records
    if latest and latest[0].run_id == run_id:
        return latest[0].asset_materialization
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    for record in records:
        materialization = record.asset_materialization
        if (materialization is not None and materialization.asset_key == ANALYSIS_ASSET
                and materialization.partition == partition):
            return materialization
    return None
