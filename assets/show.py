"""Show-level people: every episode's people linked to the show's identities, and the show's
identity × episode screen-time table. One partition per show; the `show_rollup` sensor
materialises it whenever an episode of the show publishes a manifest (linking, then counting the
newest version), the `people_edits` sensor when a reviewer edits (counting exactly the registry
version its run's `screentime/registry_version` tag names).
"""


import dagster as dg

from screentime.contracts.names import REGISTRY_VERSION_TAG, SHOW_GROUP, SHOWS
from screentime.identity.recount import count_version
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
    asked = context.run_tags.get(REGISTRY_VERSION_TAG)
    if asked is not None:  # an edit's run: count the version it names, nothing newer
        recount = count_version(storage.get_storage(), context.partition_key, int(asked))
        if not recount.written:
            context.log.info(f"version {recount.version} not written: the show's table already counts the newer "
                             f"version {recount.table_version}")
        return dg.MaterializeResult(metadata={
            "episodes": recount.episodes, "identities": recount.identities, "named": recount.named,
            "registry_version": recount.version, "table_registry_version": recount.table_version,
            "table_written": recount.written, "table": dg.MetadataValue.path(recount.table_uri),
        })
    summary = update_show(storage.get_storage(), context.partition_key, by=f"run {context.run_id}")
    return dg.MaterializeResult(metadata={
        "episodes": summary.episodes, "identities": summary.identities, "named": summary.named,
        "relinked_episodes": dg.MetadataValue.json(summary.relinked), "registry_version": summary.version,
        "table": dg.MetadataValue.path(summary.table_uri),
    })
