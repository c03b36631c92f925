"""The show sensors: they keep `show_people` (a show's people and screen time) up to date.

- `show_rollup`: when an episode publishes its manifest, the show's people are re-linked. A sensor
  rather than declarative automation: the show partitions are keyed by show slug and the episodes
  by episode id, and Dagster has no partition mapping from one dynamic set to another, so the
  sensor maps an episode to its show itself (and adds the show's partition).
- `people_edits`: when a reviewer edits a show's people (a new registry version made by an edit
  or an undo, from the review page or anywhere else), the show's table is recomputed, in a run
  whose tags say which edit asked for it.
"""


import json

import dagster as dg

from screentime.assets.show import show_partitions
from screentime.contracts.episode import parse_episode_id
from screentime.contracts.errors import InvalidEpisodeId
from screentime.contracts.names import LAUNCHED_BY_TAG, REASON_TAG, REGISTRY_VERSION_TAG, SHOW_JOB, SHOWS
from screentime.identity.registry import load_registry
from screentime.identity.review import read_show_numbers
from screentime.resources.storage import StorageResource

show_job = dg.define_asset_job(
    SHOW_JOB, selection=dg.AssetSelection.assets("show_people"), partitions_def=show_partitions,
    description="Link a show's episodes to its people and write its identity x episode table.",
)


@dg.asset_sensor(
    asset_key=dg.AssetKey("manifests"),
    job=show_job,
    name="show_rollup",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
    description="Materialises show_people for the show of every episode that publishes a manifest.",
)
def show_rollup(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
    partition = asset_event.dagster_event.partition if asset_event.dagster_event else None
    try:
        show = parse_episode_id(partition).show
    except InvalidEpisodeId:
        return dg.SkipReason(f"not an episode partition: {partition!r}")
    known = set(context.instance.get_dynamic_partitions(SHOWS))
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=show, run_key=f"{show}@{asset_event.run_id}",
                                    tags={LAUNCHED_BY_TAG: "sensor"})],
        dynamic_partitions_requests=[] if show in known else [show_partitions.build_add_request([show])],
    )


@dg.sensor(
    job=show_job,
    name="people_edits",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=5,
    description="Re-materialises show_people when a reviewer edits a show's people (the edit is the run's reason).",
)
def people_edits(context: dg.SensorEvaluationContext, storage: StorageResource):
    seen: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
    store = storage.get_storage()
    requests = []
    for show in context.instance.get_dynamic_partitions(SHOWS):
        registry = load_registry(store, show)
        if registry.version <= seen.get(show, 0):
            continue
        # An edit (or undo) the show's table was not counted at yet. Not "the version moved since the
        # last tick": an edit made before this sensor first saw the show must be counted too.
        counted = read_show_numbers(store, show).version
        if registry.change != "link" and (counted is None or counted < registry.version):
            reason = f"v{registry.version} by {registry.updated_by}: {registry.reason}"
            requests.append(dg.RunRequest(partition_key=show, run_key=f"{show}@v{registry.version}", tags={
                LAUNCHED_BY_TAG: "edit", REASON_TAG: reason[:250], REGISTRY_VERSION_TAG: str(registry.version)}))
        seen[show] = registry.version
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(seen, sort_keys=True))
