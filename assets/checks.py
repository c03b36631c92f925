"""The episode's data-quality checks: partitioned Dagster asset checks, run in the episode job.

Each check is one function declared with `episode_check`: it names the asset it checks, what it
promises (the description the UI shows), and reads, by parameter name, the episode tables it needs
(loaded by the table IO manager) and `run`, the episode run's facts (`resources/episode_run.py`:
the analysis's manifest). It returns `(passed, metadata)`. `episode_check` makes it an
`@asset_check` with the episode partitions, so Dagster plans it in `episode_job` (the job selects
the episode assets with their checks), runs it after its asset and records its result for the
run's episode: the UI shows each check per episode. Adding a check is that one function.

A failed check is also said where the user looks: an error line in the run's log (the CLI prints
it and exits 3, see `failed_checks`) and the run's `screentime/failed_checks` tag (the UI's run
list shows it). The checks are not blocking: the episode is published with its numbers, and the
failed check says not to trust them.

In a run that fails before a check's asset is materialised, the check does not run: Dagster
records it as planned for that run and shows it "Execution failed" for that episode (not "Failed":
nothing was found wrong with data; see docs/storage.md).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable

import dagster as dg
import pyarrow as pa

from screentime.analysis.checks import boxes_outside_frame, tracks_outside_episode
from screentime.assets.partitions import episode_partitions
from screentime.contracts.manifest import Manifest
from screentime.contracts.names import FAILED_CHECKS_TAG
from screentime.resources.episode_run import EpisodeRun, episode_run

TABLE_IO_MANAGER = "table_io_manager"  # the resource key of the episode tables' IO manager
RUN = "run"  # the parameter through which a check reads the episode run's facts

EPISODE_CHECKS: list[dg.AssetChecksDefinition] = []  # every check `episode_check` declared


def episode_check(asset: str, description: str) -> Callable[[Callable[..., tuple[bool, dict]]],
                                                             dg.AssetChecksDefinition]:
    """Declare `fn(<tables>..., run) -> (passed, metadata)` as a partitioned asset check on `asset`,
    named after `fn`, run with the episode job (see the module)."""

    def declare(fn: Callable[..., tuple[bool, dict]]) -> dg.AssetChecksDefinition:
        params = list(inspect.signature(fn).parameters)
        tables = [name for name in params if name != RUN]
        name = fn.__name__

        def evaluate(context: dg.AssetCheckExecutionContext, **loaded: pa.Table) -> dg.AssetCheckResult:
            run_id, partition = context.op_execution_context.run_id, context.partition_key
            facts = {}
            if RUN in params:
                facts[RUN] = episode_run(context.instance, context.resources.storage.get_storage(), partition, run_id)
            passed, metadata = fn(**loaded, **facts)
            if not passed:
                _say_failed(context, asset, name, description, metadata)
            return dg.AssetCheckResult(passed=passed, metadata=metadata)

        # Dagster reads a check's inputs from its signature: the tables, by the names `fn` gives them.
        positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
        evaluate.__signature__ = inspect.Signature([
            inspect.Parameter("context", positional),
            *(inspect.Parameter(table, positional, annotation=pa.Table) for table in tables),
        ], return_annotation=dg.AssetCheckResult)
        evaluate.__name__ = name
        with warnings.catch_warnings():
            # Partitioned checks are a Dagster preview, used knowingly (they run in episode_job per episode),
            # so users need not read the warning on every `screentime` command and code-server start.
            warnings.filterwarnings("ignore", category=dg.PreviewWarning, message=".*partitions_def")
            declared = dg.asset_check(
                asset=asset, name=name, description=description, partitions_def=episode_partitions,
                additional_ins={table: dg.AssetIn(input_manager_key=TABLE_IO_MANAGER) for table in tables
                                if table != asset},
                required_resource_keys={"storage"} if RUN in params else None,
            )(evaluate)
        EPISODE_CHECKS.append(declared)
        return declared

    return declare


def _say_failed(context: dg.AssetCheckExecutionContext, asset: str, name: str, description: str,
                metadata: dict) -> None:
    """A failed check in the run's log and on the run's `screentime/failed_checks` tag."""
    run_id, partition = context.op_execution_context.run_id, context.partition_key
    context.log.error(f"check {name} on {asset} failed for {partition}: {description} "
                      f"({', '.join(f'{k} {v}' for k, v in metadata.items())})")
    run = context.instance.get_run_by_id(run_id)
    failed = [*filter(None, (run.tags.get(FAILED_CHECKS_TAG, "") if run else "").split(",")), name]
    context.instance.add_run_tags(run_id, {FAILED_CHECKS_TAG: ",".join(dict.fromkeys(failed))})


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


@episode_check("detections", "The detector's boxes lie inside the frame (counted before clipping, so boxes "
                             "in the wrong coordinates are caught).")
def boxes_inside_frame(detections: pa.Table, run: EpisodeRun) -> tuple[bool, dict]:
    source = run.manifest.source
    bad = run.boxes_outside_unclipped + boxes_outside_frame(detections, source.width, source.height)
    return bad == 0, {"boxes_outside": bad}


@episode_check("tracks", "Every track's frames lie within the episode (its decoded length when the "
                         "container under-reports it).")
def tracks_within_episode(tracks: pa.Table, run: EpisodeRun) -> tuple[bool, dict]:
    episode_frames = run.manifest.source.frame_count
    bad = tracks_outside_episode(tracks, episode_frames)
    return bad == 0, {"tracks_outside": bad, "episode_frames": episode_frames}


@episode_check("people", "Every track part has exactly one person, but those too small or unclear to judge "
                         "that are clearly no one's (left out, counted in the metadata).")
def every_track_one_person(people: pa.Table, embeddings: pa.Table) -> tuple[bool, dict]:
    return one_person_per_part(people, embeddings)


@episode_check("screentime", "No one is on screen longer than the episode lasts.")
def within_episode_length(screentime: pa.Table, run: EpisodeRun) -> tuple[bool, dict]:
    return within_length(screentime, run.manifest)
