"""Episode videos in a bucket: `s3://bucket/key` videos and an s3:// videos root, on SeaweedFS."""

import json
import shutil
import tempfile

import pytest

from screentime.contracts.episode import parse_episode_id
from screentime.contracts.errors import VideoError
from screentime.library.sources import local_video, require_s3_video, resolve_video
from screentime.pipelines.definitions import build_defs
from screentime.resources import StorageResource
from screentime.storage import open_storage
from screentime.storage.sync import sync_tree
from tests.dagster_helpers import run_episode_job
from tests.s3_fixtures import TEST_BUCKET

EP = "carphone-s01e01"


@pytest.fixture
def videos_root(s3_env, tmp_path, carphone) -> str:
    """carphone uploaded as <prefix>/videos/carphone/s01e01.mp4; returns the s3:// videos root."""
    folder = tmp_path / "videos" / "carphone"
    folder.mkdir(parents=True)
    shutil.copy(carphone, folder / "s01e01.mp4")
    assert sync_tree(tmp_path / "videos", open_storage(s3_env), prefix="videos") == ["videos/carphone/s01e01.mp4"]
    return f"s3://{TEST_BUCKET}/{s3_env.s3_prefix}/videos"


def test_a_run_reads_its_video_from_the_bucket_and_cleans_up(s3_env, videos_root, instance, tmp_path,
                                                            monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the download goes
    uri = f"{videos_root}/carphone/s01e01.mp4"
    result = run_episode_job(build_defs(StorageResource(**s3_env.model_dump())), instance, EP, uri, fps=10)
    assert result.success
    manifest = json.loads(open_storage(s3_env).get_text("artifacts/manifests/carphone/s01/e01/manifest.json"))
    assert manifest["source"]["path"] == uri and manifest["counts"]["frames_analyzed"] == 40
    assert not list(tmp_path.glob("screentime-video-*"))  # the temporary copy is gone


def test_an_s3_videos_root_resolves_episodes_and_missing_ones_are_named(s3_env, videos_root, monkeypatch):
    monkeypatch.setenv("SCREENTIME_VIDEOS_DIR", videos_root)
    assert resolve_video(parse_episode_id(EP)) == f"{videos_root}/carphone/s01e01.mp4"
    with pytest.raises(VideoError, match=f"none found as {videos_root}/carphone/s01e09.mp4"):
        resolve_video(parse_episode_id("carphone-s01e09"))
    missing = f"{videos_root}/carphone/s01e09.mp4"
    with pytest.raises(VideoError, match=f"video not found: {missing}"):
        require_s3_video(missing)
    with pytest.raises(VideoError, match=f"video not found: {missing}"), local_video(missing):
        pass
