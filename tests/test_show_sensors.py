"""The show sensors on a real instance: a published episode rolls its show up (show_rollup), and a
reviewer's edit re-materialises the show's people in a run that names the edit (people_edits)."""

from __future__ import annotations

import dagster as dg
import pyarrow.parquet as pq

from screentime.contracts.edits import Rename
from screentime.contracts.names import LAUNCHED_BY_TAG, REASON_TAG, REGISTRY_VERSION_TAG, SHOW_JOB
from screentime.identity.edits import edit_people
from screentime.identity.registry import load_registry
from screentime.storage import LocalStorage
from tests.dagster_helpers import local_defs, run_episode_job


def tick(defs: dg.Definitions, instance, name: str, cursor: str | None = None):
    """One evaluation as the daemon makes it (run requests checked against the instance's partitions)."""
    sensor = defs.resolve_sensor_def(name)
    context = dg.build_sensor_context(instance=instance, instance_ref=instance.get_ref(), cursor=cursor,
                                      definitions=defs, resources={"storage": defs.resources["storage"]})
    return sensor.evaluate_tick(context)


def run_requested(defs, instance, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def(SHOW_JOB).execute_in_process(
        instance=instance, partition_key=request.partition_key, tags=request.tags)


def test_an_episode_rolls_its_show_up_and_an_edit_rolls_it_up_again(data_dir, instance, carphone):
    defs = local_defs(data_dir)
    storage = LocalStorage(data_dir)
    assert run_episode_job(defs, instance, "carphone-s01e01", carphone, fps=5).success

    rollup = tick(defs, instance, "show_rollup")
    assert [r.partition_key for r in rollup.run_requests] == ["carphone"]
    (added,) = rollup.dynamic_partitions_requests  # the show's partition is new: the daemon adds it
    instance.add_dynamic_partitions(added.partitions_def_name, list(added.partition_keys))
    assert run_requested(defs, instance, rollup.run_requests[0]).success
    registry = load_registry(storage, "carphone")
    assert registry.version == 1 and registry.change == "link"
    assert tick(defs, instance, "show_rollup", rollup.cursor).run_requests == []  # nothing new published

    first = tick(defs, instance, "people_edits")
    assert first.run_requests == []  # the roll-up is the pipeline's own: nothing to redo
    edit_people(storage, "carphone", 1, Rename(identity=1, name="The Driver"), by="reviewer@tab")
    edited = tick(defs, instance, "people_edits", first.cursor)
    (request,) = edited.run_requests
    assert request.tags[LAUNCHED_BY_TAG] == "edit" and request.tags[REGISTRY_VERSION_TAG] == "2"
    assert request.tags[REASON_TAG] == "v2 by reviewer@tab: renamed person 1 to The Driver"
    result = run_requested(defs, instance, request)
    assert result.success
    assert instance.get_run_by_id(result.run_id).tags[REASON_TAG].endswith("renamed person 1 to The Driver")
    table = pq.read_table(data_dir / "artifacts/people/carphone/screentime.parquet")
    assert set(table["name"].to_pylist()) == {"The Driver"} and table.schema.metadata[
        b"screentime.registry_version"] == b"2"
    assert tick(defs, instance, "people_edits", edited.cursor).run_requests == []  # each edit once
    # A sensor that never saw the show (a new deployment, a reset cursor) still counts an edit its table lacks.
    edit_people(storage, "carphone", 2, Rename(identity=1, name="Driver"), by="reviewer@tab")
    assert [r.tags[REGISTRY_VERSION_TAG] for r in tick(defs, instance, "people_edits").run_requests] == ["3"]
