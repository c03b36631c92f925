"""Loading the code location: a broken import or wiring fails here."""

import dagster as dg

from screentime.contracts.names import EPISODE_JOB
from screentime.contracts.options import RunOptions
from screentime.pipelines.definitions import defs


def test_definitions_load_and_validate():
    dg.Definitions.validate_loadable(defs)
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {"frames", "detections", "tracks", "crops", "shots", "faces", "embeddings", "people",
                    "screentime", "manifests", "show_people"}


def test_assets_are_partitioned_by_episode_and_the_roll_up_by_show():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        expected = "shows" if key.to_user_string() == "show_people" else "episodes"
        assert graph.get(key).partitions_def.name == expected


def test_the_manifest_is_published_after_every_other_episode_asset():
    graph = defs.resolve_asset_graph()
    ancestors, todo = set(), [dg.AssetKey("manifests")]
    while todo:
        for parent in graph.get(todo.pop()).parent_keys:
            if parent not in ancestors:
                ancestors.add(parent)
                todo.append(parent)
    episode_assets = {k for k in graph.get_all_asset_keys() if graph.get(k).partitions_def.name == "episodes"}
    assert ancestors == episode_assets - {dg.AssetKey("manifests")}


def test_launchpad_shows_every_run_option_with_the_progress_logger_on():
    job = defs.resolve_job_def(EPISODE_JOB)
    op_config = job.run_config_schema.config_type.fields["ops"].config_type.fields["episode_analysis"]
    fields = op_config.config_type.fields["config"].config_type.fields
    assert set(RunOptions.model_fields) | {"video"} == set(fields)
    # Partitioned jobs carry their default run config per partition: the launchpad, backfills and
    # partition-key run requests all start from it, so the progress logger is on for them.
    default = job.get_run_config_for_partition_key("any-s01e01")
    assert set(default["loggers"]) == {"progress", "console"}
    assert default["ops"]["episode_analysis"]["config"]["device"] == "auto"


def test_no_unused_pickling_io_manager_reaches_the_launchpad():
    """Dagster adds its pickling fs_io_manager (with a `base_dir` on the launchpad) to a job that
    binds no `io_manager`; every output here goes through the Parquet table manager instead."""
    for name in (EPISODE_JOB, "show_job"):
        resources = defs.resolve_job_def(name).resource_defs
        assert resources["io_manager"] is resources["table_io_manager"]
        assert "base_dir" not in resources["io_manager"].config_schema.config_type.fields


def test_asset_checks_are_declared():
    checks = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert checks == {"boxes_inside_frame", "tracks_within_episode", "every_track_one_person",
                      "within_episode_length"}
