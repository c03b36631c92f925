"""The shipped dagster.yaml: the run queue, one run per episode, and the `gpu` pool."""

import shutil
from importlib import resources

import dagster as dg

from screentime.pipelines.definitions import defs


def test_the_template_instance_queues_runs_within_limits(tmp_path):
    with resources.as_file(resources.files("screentime").joinpath("dagster.yaml")) as template:
        shutil.copy(template, tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)
        config = instance.get_concurrency_config()
        queue = config.run_queue_config
        assert queue.max_concurrent_runs == 4
        assert queue.tag_concurrency_limits == [
            {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]
        assert config.pool_config.default_pool_limit == 1
        assert instance.event_log_storage.supports_global_concurrency_limits  # slots are enforced


def test_only_the_analysis_step_is_in_the_gpu_pool():
    job = defs.resolve_job_def("episode_job")
    pools = {node.name: node.definition.pool for node in job.graph.node_dict.values()}
    assert pools == {"episode_analysis": "gpu", "manifests": None}
