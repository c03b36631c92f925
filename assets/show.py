"""Show-level people: every episode's people linked to the show's identities, and the show's
identity × episode screen-time table. One partition per show; the `show_rollup` sensor
materialises it whenever an episode of the show publishes a manifest.
"""


import dagster as dg

from screentime.contracts.names import SHOW_GROUP, SHOWS
from screentime.identity.show_rollup import update_show
from screentime.resources.storage import StorageResource

show_partitions = dg.DynamicPartitionsDefinition(name=SHOWS)


@dg.asset(
    partitions_def=show_partitions,
    group_name=SHOW_GROUP,
    deps=[dg.AssetKey("screentime")],
    description="The show's people registry (identities with stable ids and names) linked to every "
    "published episode, and screentime.parquet: identity x episode seconds (seasons are its rows).",
)
def show_people(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    summary = update_show(storage.get_storage(), context.partition_key, by=f"run {context.run_id}")
    return dg.MaterializeResult(metadata={
        "episodes": summary.episodes, "identities": summary.identities, "named": summary.named,
        "relinked_episodes": dg.MetadataValue.json(summary.relinked), "registry_version": summary.version,
        "table": dg.MetadataValue.path(summary.table_uri),
    })
