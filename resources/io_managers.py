"""The IO manager that writes the episode tables as real Parquet files into the artifact layout.

Tables go into the run's own folder (`.../<run_id>/detections.parquet`); the `manifests` asset then
publishes `manifest.json`, the commit point, and prunes the episode's other run folders.
"""

import io

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from screentime.contracts.episode import parse_episode_id
from screentime.contracts.layout import EpisodeLayout
from screentime.resources.storage import StorageResource

STORAGE_KEY = "storage_key"


def table_to_parquet(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def table_from_parquet(data: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(data))


class EpisodeTableIOManager(dg.ConfigurableIOManager):
    """Arrow tables as Parquet at `artifacts/manifests/<show>/s<SS>/e<EE>/<run_id>/<asset>.parquet`."""

    storage: dg.ResourceDependency[StorageResource]

    def handle_output(self, context: dg.OutputContext, obj: pa.Table) -> None:
        ep = parse_episode_id(context.asset_partition_key)
        key = EpisodeLayout(ep).table_key(context.run_id, context.asset_key.path[-1])
        store = self.storage.get_storage()
        store.put_bytes(key, table_to_parquet(obj), "application/vnd.apache.parquet")
        context.add_output_metadata({STORAGE_KEY: key, "uri": store.uri(key), "rows": obj.num_rows})

    def load_input(self, context: dg.InputContext) -> pa.Table:
        """This run's table when this run wrote it (the normal episode run), else the latest one."""
        store = self.storage.get_storage()
        own = EpisodeLayout(parse_episode_id(context.asset_partition_key)).table_key(
            context.step_context.run_id, context.asset_key.path[-1])
        key = own if store.exists(own) else self._materialized_key(context)
        return table_from_parquet(store.get_bytes(key))

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
