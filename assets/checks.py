"""The episode's data-quality checks, kept out of the episode job's runs.

Dagster resolves every check planned in a run that fails as "Execution failed" (a check that never
ran, in a failed run), so a corrupt video turned `boxes_inside_frame` red as if the boxes were
bad. These checks are therefore not in `episode_job`'s selection: the assets that compute their
inputs report each result for the episode's partition when their step succeeds (`report_check`),
and a failed run leaves the checks as they were. Each is also defined as a partitioned asset check
over the stored tables, so the UI lists it per episode (Dagster 1.13 cannot run a partitioned check
on its own: re-run the episode to check it again).
"""

from __future__ import annotations

import warnings

import dagster as dg
import pyarrow as pa

from screentime.analysis.checks import boxes_outside_frame, tracks_outside_episode
from screentime.assets.partitions import episode_partitions
from screentime.contracts.manifest import Manifest
from screentime.contracts.names import FAILED_CHECKS_TAG

MANIFEST_METADATA = b"screentime.manifest"  # the analysis's manifest, carried by the frames table
TABLES = "table_io_manager"
DESCRIPTIONS = {
    "boxes_inside_frame": "The detector's boxes lie inside the frame (in a run, checked before clipping, "
                          "so boxes in the wrong coordinates are caught).",
    "tracks_within_episode": "Every track's frames lie within the episode (its decoded length when the "
                             "container under-reports it).",
    "every_track_one_person": "Every track part has exactly one person, but those too small or unclear to "
                              "judge that are clearly no one's (left out, counted in the metadata).",
    "within_episode_length": "No one is on screen longer than the episode lasts.",
}


def analysis_manifest(frames: pa.Table) -> Manifest:
    return Manifest.model_validate_json(frames.schema.metadata[MANIFEST_METADATA])


def report_check(context: dg.AssetExecutionContext, asset: str, name: str, passed: bool, metadata: dict) -> None:
    """Record a check's result for the run's episode, in the run's event log but outside its plan.

    A failed check is said where the user looks: an error line in the run's log (the CLI prints
    it and exits 3) and the run's `screentime/failed_checks` tag (the UI's run list shows it)."""
    context.log_event(dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(asset), check_name=name, passed=passed, metadata=metadata,
        partition=context.partition_key, description=DESCRIPTIONS[name],
    ))
    if not passed:
        context.log.error(f"check {name} on {asset} failed for {context.partition_key}: {DESCRIPTIONS[name]} "
                          f"({', '.join(f'{k} {v}' for k, v in metadata.items())})")
        run = context.instance.get_run_by_id(context.run_id)
        failed = [*filter(None, (run.tags.get(FAILED_CHECKS_TAG, "") if run else "").split(",")), name]
        context.instance.add_run_tags(context.run_id, {FAILED_CHECKS_TAG: ",".join(dict.fromkeys(failed))})


def failed_checks(events) -> list[tuple[str, str, dict]]:
    """(asset, check, metadata) of each failed check evaluation among a run's events."""
    failed = []
    for event in events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed:
                metadata = {k: getattr(v, "value", v) for k, v in evaluation.metadata.items()}
                failed.append((evaluation.asset_key.to_user_string(), evaluation.check_name, metadata))
    return failed


def one_person_per_part(people: pa.Table, embeddings: pa.Table) -> tuple[bool, dict]:
    keys = list(zip(people["track_id"].to_pylist(), people["part"].to_pylist(), strict=True))
    expected = set(zip(embeddings["track_id"].to_pylist(), embeddings["part"].to_pylist(), strict=True))
    passed = len(keys) == len(set(keys)) and set(keys) <= expected
    return passed, {"track_parts": len(expected), "rows": len(keys), "left_out": len(expected - set(keys))}


def within_length(screentime: pa.Table, manifest: Manifest) -> tuple[bool, dict]:
    longest = max(screentime["seconds"].to_pylist(), default=0.0)
    duration = manifest.source.duration_s
    passed = longest <= duration + 1.0 / max(manifest.analysis_fps, 1e-9)
    return passed, {"longest_s": longest, "episode_s": duration}


def _episode_frames(manifest: Manifest) -> int:
    return max(manifest.source.frame_count, manifest.counts.frames_decoded)


# A partitioned asset check is a Dagster preview feature (partitions_def on a check): it gives each
# episode its own check status in the UI; the runs report the results through `report_check`.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.PreviewWarning)

    @dg.asset_check(asset="detections", name="boxes_inside_frame", partitions_def=episode_partitions,
                    description=DESCRIPTIONS["boxes_inside_frame"],
                    additional_ins={"frames": dg.AssetIn(input_manager_key=TABLES)})
    def boxes_inside_frame(detections: pa.Table, frames: pa.Table) -> dg.AssetCheckResult:
        source = analysis_manifest(frames).source
        bad = boxes_outside_frame(detections, source.width, source.height)  # the stored (clipped) boxes
        return dg.AssetCheckResult(passed=bad == 0, metadata={"boxes_outside": bad})

    @dg.asset_check(asset="tracks", name="tracks_within_episode", partitions_def=episode_partitions,
                    description=DESCRIPTIONS["tracks_within_episode"],
                    additional_ins={"frames": dg.AssetIn(input_manager_key=TABLES)})
    def tracks_within_episode(tracks: pa.Table, frames: pa.Table) -> dg.AssetCheckResult:
        episode_frames = _episode_frames(analysis_manifest(frames))
        bad = tracks_outside_episode(tracks, episode_frames)
        return dg.AssetCheckResult(passed=bad == 0, metadata={"tracks_outside": bad, "episode_frames": episode_frames})

    @dg.asset_check(asset="people", name="every_track_one_person", partitions_def=episode_partitions,
                    description=DESCRIPTIONS["every_track_one_person"],
                    additional_ins={"embeddings": dg.AssetIn(input_manager_key=TABLES)})
    def every_track_one_person(people: pa.Table, embeddings: pa.Table) -> dg.AssetCheckResult:
        passed, metadata = one_person_per_part(people, embeddings)
        return dg.AssetCheckResult(passed=passed, metadata=metadata)

    @dg.asset_check(asset="screentime", name="within_episode_length", partitions_def=episode_partitions,
                    description=DESCRIPTIONS["within_episode_length"],
                    additional_ins={"frames": dg.AssetIn(input_manager_key=TABLES)})
    def within_episode_length(screentime: pa.Table, frames: pa.Table) -> dg.AssetCheckResult:
        passed, metadata = within_length(screentime, analysis_manifest(frames))
        return dg.AssetCheckResult(passed=passed, metadata=metadata)


episode_checks = [boxes_inside_frame, tracks_within_episode, every_track_one_person, within_episode_length]
