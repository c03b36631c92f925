"""The IO manager that writes the episode tables as real Parquet files into the artifact layout.

Tables go into the folder of the analysis run they belong to (`.../<run_id>/detections.parquet`);
the `manifests` asset then publishes `manifest.json`, the commit point, and prunes the episode's
other run folders. A loaded table carries its run id in its schema metadata (`ANALYSIS_RUN`), and
tables made from it (embeddings, people, screen time) keep it, so a later re-materialisation of
people (after a review edit, say) replaces the file beside the analysis it was made from.
"""

import dagster as dg
import pyarrow as pa

from screentime.contracts.episode import parse_episode_id
from screentime.contracts.layout import EpisodeLayout
from screentime.resources.storage import StorageResource
from screentime.storage.parquet import PARQUET, table_from_parquet, table_to_parquet

STORAGE_KEY = "storage_key"
ANALYSIS_RUN = b"screentime.analysis_run"


class EpisodeTableIOManager(dg.ConfigurableIOManager):
    """Arrow tables as Parquet at `artifacts/manifests/<show>/s<SS>/e<EE>/<run_id>/<asset>.parquet`."""

    storage: dg.ResourceDependency[StorageResource]

    def handle_output(self, context: dg.OutputContext, obj: pa.Table) -> None:
        ep = parse_episode_id(context.asset_partition_key)
        run_id = (obj.schema.metadata or {}).get(ANALYSIS_RUN, context.run_id.encode()).decode()
        key = EpisodeLayout(ep).table_key(run_id, context.asset_key.path[-1])
        store = self.storage.get_storage()
        store.put_bytes(key, table_to_parquet(obj), PARQUET)
        context.add_output_metadata({STORAGE_KEY: key, "uri": store.uri(key), "rows": obj.num_rows})

    def load_input(self, context: dg.InputContext) -> pa.Table:
        """This run's table when this run wrote it (the normal episode run), else the latest one."""
        store = self.storage.get_storage()
        own = EpisodeLayout(parse_episode_id(context.asset_partition_key)).table_key(
            context.step_context.run_id, context.asset_key.path[-1])
        key = own if store.exists(own) else self._materialized_key(context)
        table = table_from_parquet(store.get_bytes(key))
        return with_analysis_run(table, key.rsplit("/", 2)[-2])

    @staticmethod
    def _materialized_key(context: dg.InputContext) -> str:
        """The file of the latest materialisation of that asset partition (any run)."""
        partition = context.asset_partition_key
        result = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=context.asset_key, asset_partitions=[partition]), limit=1
        )
        if not result.records:
            raise dg.Failure(f"{context.asset_key.to_user_string()} has no materialisation for {partition}")
        metadata = result.records[0].asset_materialization.metadata
        return metadata[STORAGE_KEY].value


def with_analysis_run(table: pa.Table, run_id: str) -> pa.Table:
    """`table` marked as belonging to analysis run `run_id` (kept in its schema metadata)."""
    return table.replace_schema_metadata({**(table.schema.metadata or {}), ANALYSIS_RUN: run_id.encode()})


def analysis_run_of(table: pa.Table) -> str | None:
    value = (table.schema.metadata or {}).get(ANALYSIS_RUN)
    return value.decode() if value else None
