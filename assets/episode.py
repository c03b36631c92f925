"""The episode assets.

`episode_analysis` is one multi-asset: a single decoding pass yields `frames`, `detections`,
`tracks` and `crops` (ByteTrack is online, so nothing needs a second pass over the video).
`manifests` runs after it and publishes manifest.json, the episode's commit point.
"""

from dataclasses import replace

import dagster as dg
import pyarrow as pa
from pydantic import Field

from screentime.analysis.episode import analyze_episode
from screentime.analysis.failed_runs import end_failed_run
from screentime.analysis.publish import discard_stale_runs, manifest_for, publish_manifest, read_manifest
from screentime.analysis.versions import analysis_code_version
from screentime.assets.guard import already_analysed, claim_episode, stop_if_orphaned
from screentime.assets.partitions import episode_partitions
from screentime.contracts.episode import parse_episode_id
from screentime.contracts.errors import EpisodeBusy
from screentime.contracts.layout import EpisodeLayout
from screentime.contracts.manifest import Manifest
from screentime.contracts.names import ANALYSIS_OP, EPISODE_GROUP, GPU_POOL
from screentime.contracts.options import RunOptions
from screentime.contracts.progress import ProgressRecord, utc_now
from screentime.identity.versions import identity_code_version
from screentime.library.sources import local_video, resolve_video
from screentime.progress.clock import ProgressClock
from screentime.progress.log_records import progress_extra
from screentime.resources.episode_run import analysis_facts, episode_run
from screentime.resources.storage import StorageResource
from screentime.vision.video import probe_video

# Detector + weights + tracker + settings: changing any marks every episode outdated in the UI.
ANALYSIS_VERSION = analysis_code_version()


class EpisodeConfig(dg.Config, RunOptions):
    """Run options for one episode (the launchpad shows these)."""

    video: str = Field(
        default="",
        description="Path or s3:// URI of the episode video. Empty: "
        "<SCREENTIME_VIDEOS_DIR>/<show>/s<SS>e<EE>.mp4 (that root may be s3://bucket/prefix too)",
    )


def _emitter(context: dg.OpExecutionContext, storage: StorageResource):
    def emit(record: ProgressRecord) -> None:
        context.log.debug(
            f"progress {record.phase} {record.frames_done}/{record.frames_total}",
            extra=progress_extra(record, storage),
        )

    return emit


# The tables one decoding pass produces, with what each holds (the launchpad and catalog show it).
ANALYSIS_TABLES = {
    "frames": "Index of the analysed frames (+ JPEG paths when saved).",
    "detections": "Every face box with score, landmarks and track id.",
    "tracks": "Face tracks: first/last frame, timestamps, boxes, mean score.",
    "crops": "Face crops per track (JPEG paths).",
    "shots": "Shots: the episode cut at its hard cuts (no track crosses one).",
    "faces": "The few sharpest face chips of each track (JPEG bytes): what embeddings are computed from.",
}


@dg.multi_asset(
    name=ANALYSIS_OP,
    outs={
        # Not required: a run asking for what was just published yields none (`already_analysed`),
        # and the steps after it are skipped.
        name: dg.AssetOut(io_manager_key="table_io_manager", group_name=EPISODE_GROUP,
                          code_version=ANALYSIS_VERSION, description=description, is_required=False)
        for name, description in ANALYSIS_TABLES.items()
    },
    partitions_def=episode_partitions,
    pool=GPU_POOL,  # one analysis at a time per GPU slot (see pipelines/dagster.yaml)
)
def episode_analysis(context: dg.AssetExecutionContext, config: EpisodeConfig, storage: StorageResource):
    with stop_if_orphaned(context.instance, context.run_id):  # exits if its run worker dies
        yield from _analyse(context, config, storage)


def _analyse(context: dg.AssetExecutionContext, config: EpisodeConfig, storage: StorageResource):
    ep = parse_episode_id(context.partition_key)
    emit = _emitter(context, storage)
    claim_episode(context.instance, str(ep), context.run_id)  # before anything is written
    try:
        store = storage.get_storage()
        store.check_writable()
        location = resolve_video(ep, config.video)
        published = read_manifest(store, ep)
        if already_analysed(context.instance, published, ep, context.dagster_run, location, config.run_options(),
                            {"detections": ANALYSIS_VERSION, "embeddings": identity_code_version()}):
            context.log.info(f"nothing to do: {ep} was analysed by run {published.run_id}, for the same video and "
                             "code, after this run was requested; its manifest stands")
            emit(done_record(published, context.run_id))
            return
        stale = discard_stale_runs(store, ep, context.run_id)
        if stale:
            context.log.info(f"removed {stale} file(s) that earlier failed runs of {ep} left")
        with local_video(location) as path:  # an s3:// video is downloaded for the run
            source = probe_video(path)
            analysis = analyze_episode(
                ep, source, context.run_id, config.run_options(), store,
                on_progress=emit, on_warning=context.log.warning,
            )
        analysis.source = replace(analysis.source, path=location)  # the manifest names the original
    except EpisodeBusy:
        raise
    except BaseException as exc:  # interrupts too: a cancelled run ends its progress here
        _end_failed_step(context, storage, config, exc, emit)
        raise

    manifest = manifest_for(analysis)
    counts, timings = manifest.counts, manifest.timings
    common = {"device": analysis.device, "fps": timings.fps, "seconds": timings.seconds}
    yield dg.Output(analysis.frames, "frames", metadata={
        **analysis_facts(manifest, analysis.boxes_outside),  # the run's facts, recorded once (episode_run)
        **common, "frames_analyzed": counts.frames_analyzed, "frames_saved": counts.frames_saved,
        "frames_decoded": counts.frames_decoded, "frames_unreadable": counts.frames_unreadable,
        "source": dg.MetadataValue.json(manifest.source.model_dump()),
    })
    yield dg.Output(analysis.detections, "detections", metadata={
        **common, "detections": counts.detections, "detector": dg.MetadataValue.json(manifest.detector.model_dump()),
    })
    yield dg.Output(analysis.tracks, "tracks", metadata={
        **common, "tracks": counts.tracks, "preview": dg.MetadataValue.md(_tracks_markdown(analysis.tracks)),
    })
    yield dg.Output(analysis.crops, "crops", metadata={
        **common, "crops_saved": counts.crops_saved, "export_failures": counts.export_failures,
        **({"prefix": dg.MetadataValue.path(analysis.artifacts["crops"])} if "crops" in analysis.artifacts else {}),
    })
    yield dg.Output(analysis.shots, "shots", metadata={**common, "shots": counts.shots})
    yield dg.Output(analysis.faces, "faces", metadata={**common, "faces": analysis.faces.num_rows})


def done_record(manifest: Manifest, run_id: str) -> ProgressRecord:
    """The `done` record of `run_id` for the published `manifest`: its counts and artifacts (the
    run that published it, or a run that found it already published for what it asked)."""
    counts, timings = manifest.counts, manifest.timings
    published_now = manifest.run_id == run_id
    return ProgressRecord(
        ep_id=manifest.ep_id, run_id=run_id, phase="done",
        frames_done=counts.frames_analyzed, frames_total=counts.frames_analyzed, ratio=1.0,
        seconds=timings.seconds if published_now else 0.0, fps=timings.fps if published_now else 0.0,
        eta_seconds=0.0, device=manifest.device, updated_at=manifest.created_at if published_now else utc_now(),
        seq=0, counts=counts, artifacts=manifest.artifacts,
    )


def _end_failed_step(context: dg.AssetExecutionContext, storage: StorageResource, config: EpisodeConfig,
                     exc: BaseException, emit) -> None:
    """End the run here (`end_failed_run`; the failure sensor does it for runs that died). Its
    `error` record goes through the progress logger, so `screentime run` prints it too; a cancel
    is not counted towards quarantine."""
    ep = parse_episode_id(context.partition_key)
    try:
        store = storage.get_storage()
    except Exception as storage_error:
        context.log.warning(f"could not end the failed run in storage: {storage_error}")
        return
    end = end_failed_run(
        store, ep, context.run_id, type(exc).__name__, str(exc), video=config.video,
        counted=isinstance(exc, Exception),
        end_progress=lambda: ProgressClock(str(ep), context.run_id, config.device, 0, emit).error(exc),
    )
    for problem in end.problems:  # the next run of the episode removes what is left
        context.log.warning(f"the failed run: {problem}")
    if end.decision is not None:
        context.log.info(f"{context.partition_key}: {end.decision.reason}")


def _tracks_markdown(tracks: pa.Table, limit: int = 10) -> str:
    rows = ["| track | first frame | last frame | detections | mean score |", "|---|---|---|---|---|"]
    for t in tracks.slice(0, limit).to_pylist():
        rows.append(f"| {t['track_id']} | {t['first_frame']} | {t['last_frame']} | {t['detections']} "
                    f"| {t['mean_score']:.3f} |")
    if tracks.num_rows > limit:
        rows.append(f"| ... {tracks.num_rows - limit} more | | | | |")
    return "\n".join(rows)


@dg.asset(
    partitions_def=episode_partitions,
    group_name=EPISODE_GROUP,
    deps=["frames", "detections", "tracks", "crops", "shots", "faces", "embeddings", "screentime"],
    ins={"people": dg.AssetIn(input_manager_key="table_io_manager")},
    description="manifest.json: counts, timings, device, model, source and artifact prefixes. "
    "Written last; its presence means the episode's outputs are complete.",
)
def manifests(context: dg.AssetExecutionContext, people: pa.Table, storage: StorageResource) -> dg.MaterializeResult:
    with stop_if_orphaned(context.instance, context.run_id):
        return _publish(context, people, storage)


def _publish(context: dg.AssetExecutionContext, people: pa.Table, storage: StorageResource) -> dg.MaterializeResult:
    store = storage.get_storage()
    manifest = episode_run(context.instance, store, context.partition_key, context.run_id).manifest
    manifest.counts.people = len(set(people["person_id"].to_pylist()))
    if manifest.ep_id != context.partition_key:
        raise dg.Failure(f"frames belong to {manifest.ep_id}, not {context.partition_key}")
    if manifest.run_id != context.run_id:  # publishing is bound to the run that analysed
        raise dg.Failure(f"manifests publishes the analysis of its own run, and run {context.run_id} analysed "
                         f"nothing (the latest frames are run {manifest.run_id}'s): materialise the episode's "
                         "analysis and manifests together, as episode_job does")
    manifest, pruned = publish_manifest(store, manifest)
    counts, timings = manifest.counts, manifest.timings
    _emitter(context, storage)(done_record(manifest, context.run_id))
    manifest_uri = store.uri(EpisodeLayout(parse_episode_id(manifest.ep_id)).manifest_key)
    return dg.MaterializeResult(metadata={
        **counts.model_dump(), "device": manifest.device, "seconds": timings.seconds,
        "fps": timings.fps, "uri": dg.MetadataValue.path(manifest_uri), "stale_objects_removed": pruned,
    })
