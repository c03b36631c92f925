"""The IO manager that writes the episode tables as real Parquet files into the artifact layout.

Tables go into the folder of the analysis run they belong to (`.../<run_id>/detections.parquet`);
the `manifests` asset then publishes `manifest.json`, the commit point, and prunes the episode's
other run folders. Which run that is, the IO manager asks the episode run's one owner of facts
(`resources/episode_run.py`), never the table: the analysis step's own outputs go into its run's
folder, and the tables made from them (embeddings, people, screen time) into the folder of the
analysis they were made from, so a later re-materialisation of people (after a review edit, say)
replaces the file beside that analysis.
"""

import dagster as dg
import pyarrow as pa

from screentime.contracts.episode import parse_episode_id
from screentime.contracts.layout import EpisodeLayout
from screentime.contracts.names import ANALYSIS_OP
from screentime.resources.episode_run import episode_run
from screentime.resources.storage import StorageResource
from screentime.storage.parquet import PARQUET, table_from_parquet, table_to_parquet

STORAGE_KEY = "storage_key"


class EpisodeTableIOManager(dg.ConfigurableIOManager):
    """Arrow tables as Parquet at `artifacts/manifests/<show>/s<SS>/e<EE>/<run_id>/<asset>.parquet`."""

    storage: dg.ResourceDependency[StorageResource]

    def handle_output(self, context: dg.OutputContext, obj: pa.Table) -> None:
        partition = context.asset_partition_key
        store = self.storage.get_storage()
        if context.op_def.name == ANALYSIS_OP:  # the analysis itself: this run's folder
            run_id = context.run_id
        else:  # made from an analysis: beside it
            run_id = episode_run(context.step_context.instance, store, partition, context.run_id).run_id
        key = EpisodeLayout(parse_episode_id(partition)).table_key(run_id, context.asset_key.path[-1])
        store.put_bytes(key, table_to_parquet(obj), PARQUET)
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
