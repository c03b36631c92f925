"""The show sensors on a real instance: a published episode rolls its show up (show_rollup), and a
reviewer's edit re-materialises the show's people in a run that names the edit (people_edits)."""

from __future__ import annotations

import dagster as dg
import pyarrow.parquet as pq

from screentime.contracts.edits import Rename
from screentime.contracts.names import LAUNCHED_BY_TAG, REASON_TAG, REGISTRY_VERSION_TAG, SHOW_JOB, SHOWS
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


def test_an_edits_run_counts_exactly_the_version_its_tag_names(data_dir, instance, carphone):
    """Before: a run tagged v2 counted whatever was newest when it ran (v3), so the run named one edit
    and showed another's numbers. Now it reads v2 from the history; a late run never puts older
    numbers over newer ones."""
    defs = local_defs(data_dir)
    storage = LocalStorage(data_dir)
    assert run_episode_job(defs, instance, "carphone-s01e01", carphone, fps=5).success
    rollup = tick(defs, instance, "show_rollup")
    instance.add_dynamic_partitions(SHOWS, ["carphone"])
    assert run_requested(defs, instance, rollup.run_requests[0]).success
    cursor = tick(defs, instance, "people_edits").cursor

    edit_people(storage, "carphone", 1, Rename(identity=1, name="The Driver"), by="ann")
    (first,) = tick(defs, instance, "people_edits", cursor).run_requests
    edit_people(storage, "carphone", 2, Rename(identity=1, name="Driver"), by="bob")  # before v2's run starts
    assert first.tags[REGISTRY_VERSION_TAG] == "2"
    result = run_requested(defs, instance, first)
    table = pq.read_table(data_dir / "artifacts/people/carphone/screentime.parquet")
    assert set(table["name"].to_pylist()) == {"The Driver"}  # v2's numbers and names, not v3's
    assert table.schema.metadata[b"screentime.registry_version"] == b"2"
    assert _metadata(result)["registry_version"] == 2 and _metadata(result)["table_written"] is True

    (second,) = tick(defs, instance, "people_edits").run_requests  # v3 is not counted yet: its own run
    assert second.tags[REGISTRY_VERSION_TAG] == "3"
    assert run_requested(defs, instance, second).success
    table = pq.read_table(data_dir / "artifacts/people/carphone/screentime.parquet")
    assert set(table["name"].to_pylist()) == {"Driver"}
    assert table.schema.metadata[b"screentime.registry_version"] == b"3"

    late = run_requested(defs, instance, first)  # v2's run again, after v3's: the newer table stays
    assert {k: _metadata(late)[k] for k in ("registry_version", "table_registry_version", "table_written")} == {
        "registry_version": 2, "table_registry_version": 3, "table_written": False}
    assert pq.read_table(data_dir / "artifacts/people/carphone/screentime.parquet").schema.metadata[
        b"screentime.registry_version"] == b"3"


def _metadata(result: dg.ExecuteInProcessResult) -> dict:
    (event,) = result.get_asset_materialization_events()
    return {key: value.value for key, value in event.materialization.metadata.items()}
