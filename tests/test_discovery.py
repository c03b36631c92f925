"""Episode discovery: the scan of a videos root, and the sensor on a real Dagster instance."""

import os
import shutil
import subprocess
import sys

import dagster as dg
import pytest

from screentime.assets.partitions import EPISODES
from screentime.library.discovery import scan_paths, scan_videos
from screentime.pipelines.sensors import episode_discovery
from screentime.resources import StorageResource
from screentime.storage import open_storage
from screentime.storage.sync import sync_tree
from tests.manifests import sample_manifest
from tests.s3_fixtures import TEST_BUCKET

SEASONS = ["the-office/s01e01.mp4", "the-office/s01e02.mp4", "the-office/s02e01.mkv"]


@pytest.fixture
def videos(tmp_path, carphone, monkeypatch):
    root = tmp_path / "videos"
    monkeypatch.setenv("SCREENTIME_VIDEOS_DIR", str(root))
    for name in SEASONS:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(carphone, root / name)
    return root


def tick(instance, data_dir, cursor=None, storage=None):
    """One sensor evaluation, then what the daemon does with it: add the requested partitions."""
    storage = storage or StorageResource(backend="local", data_dir=str(data_dir))
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"storage": storage})
    result = episode_discovery(context)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def test_three_episodes_of_two_seasons_become_three_partitions_and_three_runs(videos, data_dir, instance):
    result = tick(instance, data_dir)
    keys = ["the-office-s01e01", "the-office-s01e02", "the-office-s02e01"]
    assert sorted(instance.get_dynamic_partitions(EPISODES)) == keys
    assert [r.partition_key for r in result.run_requests] == keys
    assert all(r.run_key.startswith(f"{r.partition_key}@") for r in result.run_requests)
    assert all(r.tags["screentime/launched_by"] == "sensor" for r in result.run_requests)
    assert result.run_requests[0].run_config == {}  # the job's partitioned config: progress logger on

    again = tick(instance, data_dir, result.cursor)  # nothing new: nothing requested twice
    assert not again.run_requests and not again.dynamic_partitions_requests
    assert "no new or changed episodes" in again.skip_reason.skip_message


def test_a_badly_named_file_is_reported_and_nothing_else(videos, data_dir, instance):
    cursor = tick(instance, data_dir).cursor
    (videos / "The Office").mkdir()
    shutil.copy(videos / SEASONS[0], videos / "The Office" / "S1E3.mp4")
    shutil.copy(videos / SEASONS[0], videos / "the-office" / "s1e3.mp4")
    (videos / "the-office" / "notes.txt").write_text("not a video: ignored")

    result = tick(instance, data_dir, cursor)
    assert not result.run_requests and not result.dynamic_partitions_requests
    reason = result.skip_reason.skip_message
    assert "2 file(s) skipped" in reason and "S1E3.mp4" in reason and "s1e3.mp4" in reason
    assert "not named <show>/s<SS>e<EE>.<ext>" in reason
    assert len(instance.get_dynamic_partitions(EPISODES)) == 3


def test_a_replaced_file_is_requested_again_under_a_new_run_key(videos, data_dir, instance):
    first = tick(instance, data_dir)
    path = videos / SEASONS[1]
    path.write_bytes(path.read_bytes() + b"\0")
    second = tick(instance, data_dir, first.cursor)
    assert [r.partition_key for r in second.run_requests] == ["the-office-s01e02"]
    assert second.run_requests[0].run_key not in {r.run_key for r in first.run_requests}


def test_an_episode_whose_manifest_is_newer_than_its_file_is_registered_not_rerun(videos, data_dir, instance):
    manifest = data_dir / "artifacts/manifests/the-office/s01/e01/manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(sample_manifest("the-office-s01e01", created_at="2999-01-01T00:00:00.000Z").model_dump_json())
    result = tick(instance, data_dir)
    assert "the-office-s01e01" in instance.get_dynamic_partitions(EPISODES)
    assert [r.partition_key for r in result.run_requests] == ["the-office-s01e02", "the-office-s02e01"]


def test_a_missing_videos_root_is_a_skip_reason_not_a_crash(tmp_path, data_dir, instance, monkeypatch):
    monkeypatch.setenv("SCREENTIME_VIDEOS_DIR", str(tmp_path / "nowhere"))
    result = tick(instance, data_dir)
    assert "is not a folder" in result.skip_reason.skip_message and not result.run_requests


def test_scan_rules(videos):
    shutil.copy(videos / SEASONS[0], videos / "the-office" / "s01e01.mkv")  # .mp4 wins, as in runs
    shutil.copy(videos / SEASONS[0], videos / "stray.mp4")  # not in a show folder
    (videos / "the-office" / "extras").mkdir()
    shutil.copy(videos / SEASONS[0], videos / "the-office" / "extras" / "s01e09.mp4")  # too deep
    shutil.copy(videos / SEASONS[0], videos / "the-office" / ".s01e05.mp4")  # hidden: skipped
    scan = scan_videos(str(videos))
    assert [str(v.ep) for v in scan.episodes] == ["the-office-s01e01", "the-office-s01e02", "the-office-s02e01"]
    assert scan.episodes[0].location.endswith("s01e01.mp4")
    reasons = {os.path.relpath(r.location, videos): r.reason for r in scan.rejected}
    assert set(reasons) == {"the-office/s01e01.mkv", "stray.mp4", "the-office/extras/s01e09.mp4"}
    assert reasons["the-office/s01e01.mkv"].startswith("duplicate of")


def test_scan_paths_takes_files_show_folders_and_roots(videos):
    scan = scan_paths([str(videos / "the-office"), str(videos / SEASONS[0]), str(videos / "missing.mp4")])
    assert [str(v.ep) for v in scan.episodes] == ["the-office-s01e01", "the-office-s01e02", "the-office-s02e01"]
    assert [r.reason for r in scan.rejected] == ["no such file or folder"]
    assert [str(v.ep) for v in scan_paths([str(videos)]).episodes] == [str(v.ep) for v in scan.episodes]


def test_an_s3_videos_root_is_scanned_like_a_folder(s3_env, tmp_path, carphone, instance, monkeypatch):
    upload = tmp_path / "upload"
    for name in [*SEASONS, "the-office/s1e3.mp4"]:
        (upload / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(carphone, upload / name)
    sync_tree(upload, open_storage(s3_env), prefix="videos")
    root = f"s3://{TEST_BUCKET}/{s3_env.s3_prefix}/videos"
    monkeypatch.setenv("SCREENTIME_VIDEOS_DIR", root)

    result = tick(instance, None, storage=StorageResource(**s3_env.model_dump()))
    keys = ["the-office-s01e01", "the-office-s01e02", "the-office-s02e01"]
    assert sorted(instance.get_dynamic_partitions(EPISODES)) == keys
    assert [r.partition_key for r in result.run_requests] == keys
    assert [str(r) for r in scan_videos(root).rejected] == [
        f"{root}/the-office/s1e3.mp4: not named <show>/s<SS>e<EE>.<ext>, e.g. the-office/s02e07.mp4 "
        "(invalid episode id 'the-office-s1e3': expected <show>-s<SS>e<EE> with a lowercase show slug, "
        "e.g. the-office-s02e07)"]
    assert not tick(instance, None, result.cursor, StorageResource(**s3_env.model_dump())).run_requests


def test_screentime_add_registers_episodes_and_names_bad_files(videos, tmp_path, carphone):
    elsewhere = tmp_path / "downloads" / "pilot.mp4"
    elsewhere.parent.mkdir()
    shutil.copy(carphone, elsewhere)
    shutil.copy(carphone, videos / "the-office" / "S1E9.mp4")
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "SCREENTIME_DATA_DIR": str(tmp_path / "data")}
    exe = os.path.join(os.path.dirname(sys.executable), "screentime")

    done = subprocess.run([exe, "add", str(videos / "the-office")], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert [line.split("\t")[:2] for line in done.stdout.splitlines()] == [
        ["the-office-s01e01", "registered"], ["the-office-s01e02", "registered"], ["the-office-s02e01", "registered"]]
    assert "skipped" in done.stderr and "S1E9.mp4" in done.stderr and "warning" not in done.stderr

    done = subprocess.run([exe, "add", str(elsewhere), "--ep-id", "the-office-s00e01"], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("the-office-s00e01\tregistered")
    assert "warning: runs of the-office-s00e01 look for its video under" in done.stderr

    done = subprocess.run([exe, "add", str(tmp_path / "nothing-here")], env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "no such file or folder" in done.stderr
    with dg.DagsterInstance.from_config(str(tmp_path / "home")) as instance:
        assert len(instance.get_dynamic_partitions(EPISODES)) == 4
