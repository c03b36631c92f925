"""Who is on screen: the per-episode identity assets, downstream of the single decoding pass.

    faces + tracks ──▶ embeddings ──▶ people ──▶ screentime ──▶ manifests (publishes, counts people)

They read only the tables the analysis wrote (face chips included), never the video, and write
their tables beside them in the analysis run's folder (the IO manager asks `episode_run`, which
also gives `screentime` the analysis's manifest). The embedder runs on CUDA when the
machine has it, on the CPU otherwise.
"""


import dagster as dg
import pyarrow as pa

from screentime.assets.guard import stop_if_orphaned
from screentime.assets.partitions import episode_partitions
from screentime.contracts.episode import parse_episode_id
from screentime.contracts.names import EPISODE_GROUP
from screentime.contracts.progress import ProgressRecord
from screentime.identity.embedders import DEFAULT_EMBEDDER, load_embedder
from screentime.identity.episode import embed_tracks, group_episode
from screentime.identity.not_same import apart_tracks
from screentime.identity.registry import load_registry
from screentime.identity.screen_time import FrameSeconds, screen_time_table
from screentime.identity.versions import identity_code_version
from screentime.progress.clock import ProgressClock
from screentime.progress.log_records import progress_extra
from screentime.resources.episode_run import episode_run
from screentime.resources.storage import StorageResource
from screentime.vision.devices import resolve_device

IDENTITY_VERSION = identity_code_version()


def _report(context: dg.AssetExecutionContext, storage: StorageResource, phase: str, frames: int) -> None:
    """A progress record for this phase (the ratio stays where the analysis left it)."""
    def emit(record: ProgressRecord) -> None:
        context.log.debug(f"progress {phase}", extra=progress_extra(record, storage))

    ProgressClock(context.partition_key, context.run_id, "cpu", frames, emit).mark(phase, frames)


def _identity_device() -> str:
    return resolve_device("auto")


@dg.asset(
    partitions_def=episode_partitions,
    group_name=EPISODE_GROUP,
    io_manager_key="table_io_manager",
    code_version=IDENTITY_VERSION,
    ins={"faces": dg.AssetIn(), "tracks": dg.AssetIn()},
    description="A face vector per track part (HSE FaceRes, 1024-d, from the track's face chips "
    "aligned on their landmarks); a track is cut in two where its face changes abruptly.",
)
def embeddings(context: dg.AssetExecutionContext, faces: pa.Table, tracks: pa.Table,
               storage: StorageResource) -> dg.Output:
    _report(context, storage, "embedding", tracks.num_rows)
    with stop_if_orphaned(context.instance, context.run_id):  # exits if its run worker dies
        table, stats = embed_tracks(faces, tracks, load_embedder(DEFAULT_EMBEDDER, _identity_device()))
    return dg.Output(table, metadata={
        "track_parts": table.num_rows, "faces_embedded": stats.faces, "seconds": round(stats.seconds, 3),
        "ms_per_face": round(stats.ms_per_face, 1), "splits": table.num_rows - tracks.num_rows,
    })


@dg.asset(
    partitions_def=episode_partitions,
    group_name=EPISODE_GROUP,
    io_manager_key="table_io_manager",
    code_version=IDENTITY_VERSION,
    ins={"embeddings": dg.AssetIn(), "detections": dg.AssetIn()},
    description="people.parquet: the person (person_id, by first appearance) of every track part; "
    "two tracks on screen together are never one person; parts too small to judge that joined no one "
    "are marked unsure; each person's nearest other person and the distance.",
)
def people(context: dg.AssetExecutionContext, embeddings: pa.Table, detections: pa.Table,
           storage: StorageResource) -> dg.Output:
    _report(context, storage, "grouping", embeddings.num_rows)
    store = storage.get_storage()
    analysis = episode_run(context.instance, store, context.partition_key, context.run_id).run_id
    registry = load_registry(store, parse_episode_id(context.partition_key).show)
    apart = apart_tracks(registry, context.partition_key, analysis)  # reviewers' "not the same"
    with stop_if_orphaned(context.instance, context.run_id):
        table = group_episode(embeddings, detections, apart=apart)
    persons = len(set(table["person_id"].to_pylist()))
    unsure = len(set(table.filter(table["unsure"])["person_id"].to_pylist()))
    return dg.Output(table, metadata={"people": persons, "track_parts": table.num_rows, "unsure_people": unsure,
                                      "kept_apart": len(apart)})


@dg.asset(
    partitions_def=episode_partitions,
    group_name=EPISODE_GROUP,
    io_manager_key="table_io_manager",
    code_version=IDENTITY_VERSION,
    ins={"people": dg.AssetIn(), "detections": dg.AssetIn(), "crops": dg.AssetIn(), "frames": dg.AssetIn()},
    description="screentime.parquet: seconds on screen per person (the union of the analysed frames "
    "their tracks cover, each the time until the next analysed frame), share of the episode, appearances, "
    "first/last seen, best crop.",
)
def screentime(context: dg.AssetExecutionContext, people: pa.Table, detections: pa.Table, crops: pa.Table,
               frames: pa.Table, storage: StorageResource) -> dg.Output:
    store = storage.get_storage()
    manifest = episode_run(context.instance, store, context.partition_key, context.run_id).manifest
    ep = parse_episode_id(context.partition_key)
    registry = load_registry(store, ep.show)
    names = {}
    for person_id in set(people["person_id"].to_pylist()):
        identity = registry.identity_of(str(ep), person_id)
        if identity is not None and identity.name:
            names[person_id] = identity.name
    duration = manifest.source.duration_s
    table = screen_time_table(detections, people, crops, FrameSeconds(frames, manifest.analysis_fps), duration,
                              names)
    top = table.slice(0, 5).to_pylist()
    return dg.Output(table, metadata={
        "people": table.num_rows, "episode_s": duration,
        "top": dg.MetadataValue.md("\n".join(
            ["| person | seconds | share | appearances |", "|---|---|---|---|"]
            + [f"| {r['name'] or 'person ' + str(r['person_id'])} | {r['seconds']:.1f} | {r['share']:.0%} "
               f"| {r['appearances']} |" for r in top])),
    })
