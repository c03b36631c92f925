"""The show roll-up sensor: when an episode publishes its manifest, bring its show's people up
to date. A sensor rather than declarative automation: the show partitions are keyed by show slug
and the episodes by episode id, and Dagster has no partition mapping from one dynamic set to
another, so the sensor maps an episode to its show itself (and adds the show's partition).
"""


import dagster as dg

from screentime.assets.show import show_partitions
from screentime.contracts.episode import parse_episode_id
from screentime.contracts.errors import InvalidEpisodeId
from screentime.contracts.names import LAUNCHED_BY_TAG, SHOW_JOB, SHOWS

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
        run_requests=[dg.RunRequest(partition_key=show, run_key=f"{show}@{asset_event.storage_id}",
                                    tags={LAUNCHED_BY_TAG: "sensor"})],
        dynamic_partitions_requests=[] if show in known else [show_partitions.build_add_request([show])],
    )
