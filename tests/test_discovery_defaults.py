"""The discovery sensor watches only a videos root named by SCREENTIME_VIDEOS_DIR: `dagster dev`
started from the repo, where `screentime demo` keeps its sample in ./videos, analysed that sample
into the user's data folder unasked (issue 22). Unset, it watches nothing and says so on each tick."""

import shutil

import dagster as dg

from screentime.pipelines.sensors import episode_discovery
from screentime.resources import StorageResource


def tick(instance, data_dir):
    storage = StorageResource(backend="local", data_dir=str(data_dir))
    return episode_discovery(dg.build_sensor_context(instance=instance, resources={"storage": storage}))


def test_the_demo_videos_folder_is_not_watched_unless_named(tmp_path, carphone, data_dir, instance, monkeypatch):
    repo = tmp_path / "repo"  # a checkout after `screentime demo`: its sample under ./videos
    (repo / "videos/carphone").mkdir(parents=True)
    shutil.copy(carphone, repo / "videos/carphone/s01e01.mp4")
    monkeypatch.chdir(repo)
    monkeypatch.delenv("SCREENTIME_VIDEOS_DIR", raising=False)
    result = tick(instance, data_dir)
    assert not result.run_requests and not result.dynamic_partitions_requests  # before: carphone-s01e01 ran
    said = result.skip_reason.skip_message
    assert "not watching any folder: SCREENTIME_VIDEOS_DIR is not set" in said
    assert "./videos" in said and "never watched" in said
    monkeypatch.setenv("SCREENTIME_VIDEOS_DIR", "")  # empty counts as unset, as in the settings
    assert not tick(instance, data_dir).run_requests
    monkeypatch.setenv("SCREENTIME_VIDEOS_DIR", str(repo / "videos"))  # named: watched
    named = tick(instance, data_dir)
    assert [r.partition_key for r in named.run_requests] == ["carphone-s01e01"]
