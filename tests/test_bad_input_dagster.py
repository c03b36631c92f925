"""Bad input through Dagster (launchpad / run config / partition keys): a clear failure, no artifacts."""

import pytest

from screentime.assets.partitions import EPISODES
from screentime.contracts.names import EPISODE_JOB
from screentime.contracts.run_config import episode_run_config
from tests.conftest import artifact_files
from tests.dagster_helpers import local_defs, run_episode_job


def failure_text(result) -> str:
    texts = []
    for event in result.all_events:
        if event.is_step_failure:
            error = event.event_specific_data.error
            while error is not None:
                texts.append(f"{error.cls_name}: {error.message}")
                error = error.cause
    return "\n".join(texts)


def artifacts_only(data_dir):
    """Artifacts, leaving out the progress files and the failure ledger (a failed run reports its
    error there)."""
    return [f for f in artifact_files(data_dir) if "/progress.json" not in f and not f.endswith("/failures.json")]


@pytest.mark.parametrize("options, message", [
    ({"jpeg_quality": 101}, "jpeg_quality"),
    ({"jpeg_quality": 0}, "jpeg_quality"),
    ({"fps": -1.0}, "fps"),
    ({"device": "tpu"}, "unknown device"),
    ({"device": "cuda:0"}, "CUDA is not available"),
    ({"detector": "yolo", "detector_weights": "/nonexistent/face.pt"}, "detector_weights not found"),
])
def test_absurd_run_config_fails_with_a_clear_message(data_dir, instance, carphone, options, message):
    import torch

    if "cuda" in options.get("device", "") and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    defs = local_defs(data_dir)
    instance.add_dynamic_partitions(EPISODES, ["bad-s01e01"])
    config = episode_run_config(video=str(carphone))
    config["ops"]["episode_analysis"]["config"].update(options)
    result = defs.resolve_job_def(EPISODE_JOB).execute_in_process(
        run_config=config, instance=instance, partition_key="bad-s01e01", raise_on_error=False)
    assert not result.success
    assert message in failure_text(result)
    assert artifacts_only(data_dir) == []


@pytest.mark.parametrize("key", ["Bad-Show-s01e01", "show-s1e1", "../../etc-s01e01", "show s01e01"])
def test_partition_keys_that_are_not_episode_ids_are_rejected(data_dir, instance, carphone, key):
    result = run_episode_job(local_defs(data_dir), instance, key, carphone)
    assert not result.success
    assert "InvalidEpisodeId" in failure_text(result)
    assert artifact_files(data_dir) == []


@pytest.mark.parametrize("video, message", [
    ("/nonexistent/video.mp4", "video not found"),
    ("{truncated}", "not a readable video"),
])
def test_missing_or_undecodable_video_fails_and_writes_no_artifacts(data_dir, instance, truncated_video,
                                                                     video, message):
    result = run_episode_job(local_defs(data_dir), instance, "bad-s01e02",
                             video.format(truncated=truncated_video))
    assert not result.success
    assert message in failure_text(result)
    assert artifacts_only(data_dir) == []
