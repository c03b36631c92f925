"""The progress logger is on for partition-keyed run requests, and the run status sensors end a
run's progress when the run could not (in-process, on a temporary instance; the same sensors run
in the daemon in test_progress_launch.py)."""

import dagster as dg

from screentime.assets.partitions import EPISODES
from screentime.contracts.episode import parse_episode_id
from screentime.contracts.names import EPISODE_JOB
from screentime.contracts.run_config import episode_run_config
from screentime.pipelines.progress_sensors import episode_progress_on_cancel
from screentime.progress.store import ProgressStore
from screentime.resources import StorageResource
from screentime.storage import LocalStorage
from tests.dagster_helpers import local_defs

EP = "carphone-s01e01"


def test_a_partition_keyed_run_request_gets_the_progress_logger_and_writes_progress(data_dir, instance, carphone):
    """What a sensor, schedule or backfill does: RunRequest(partition_key=...) with no run config."""
    defs = local_defs(data_dir)
    job = defs.resolve_job_def(EPISODE_JOB)
    request = dg.RunRequest(partition_key=EP).with_resolved_tags_and_config(  # as the daemon resolves it
        target_definition=job, dynamic_partitions_requests=[dg.AddDynamicPartitionsRequest(EPISODES, [EP])],
        dynamic_partitions_store=instance,
    )
    assert set(request.run_config["loggers"]) == {"progress", "console"}
    assert request.run_config == episode_run_config()

    instance.add_dynamic_partitions(EPISODES, [EP])
    run_config = {**request.run_config, "ops": {"episode_analysis": {"config": {"video": str(carphone)}}}}
    result = job.execute_in_process(run_config=run_config, instance=instance, partition_key=EP, tags=request.tags)
    assert result.success
    history = ProgressStore(LocalStorage(data_dir)).history(parse_episode_id(EP), result.run_id)
    assert history[-1].phase == "done" and [r.seq for r in history] == list(range(1, len(history) + 1))


def test_cancel_sensor_ends_a_run_cancelled_before_it_wrote_anything(data_dir, instance):
    """A queued run cancelled before it started: nothing else would ever end its progress."""
    defs = local_defs(data_dir)
    instance.add_dynamic_partitions(EPISODES, [EP])
    run = instance.create_run_for_job(defs.resolve_job_def(EPISODE_JOB), run_config=episode_run_config(),
                                      tags={"dagster/partition": EP})
    event = instance.report_run_canceled(run)
    context = dg.build_run_status_sensor_context(
        sensor_name=episode_progress_on_cancel.name, dagster_event=event, dagster_instance=instance,
        dagster_run=instance.get_run_by_id(run.run_id),
        resources={"storage": StorageResource(backend="local", data_dir=str(data_dir))},
    )
    episode_progress_on_cancel(context)
    store = ProgressStore(LocalStorage(data_dir))
    latest = store.latest(parse_episode_id(EP))
    assert latest.run_id == run.run_id and latest.phase == "error" and latest.error_type == "RunCanceled"
    episode_progress_on_cancel(context)  # a second evaluation adds nothing
    assert len(store.history(parse_episode_id(EP), run.run_id)) == 1


def test_queue_sensor_makes_a_queued_run_visible_before_it_starts(data_dir, instance):
    from dagster._core.events import DagsterEvent, DagsterEventType

    from screentime.pipelines.progress_sensors import episode_progress_on_queue

    defs = local_defs(data_dir)
    instance.add_dynamic_partitions(EPISODES, [EP])
    run = instance.create_run_for_job(defs.resolve_job_def(EPISODE_JOB), run_config=episode_run_config(),
                                      tags={"dagster/partition": EP})
    event = DagsterEvent(DagsterEventType.RUN_ENQUEUED.value, job_name=EPISODE_JOB)
    context = dg.build_run_status_sensor_context(
        sensor_name=episode_progress_on_queue.name, dagster_event=event, dagster_instance=instance,
        dagster_run=instance.get_run_by_id(run.run_id),
        resources={"storage": StorageResource(backend="local", data_dir=str(data_dir))},
    )
    episode_progress_on_queue(context)
    latest = ProgressStore(LocalStorage(data_dir)).latest(parse_episode_id(EP))
    assert latest.run_id == run.run_id and latest.phase == "queued"
