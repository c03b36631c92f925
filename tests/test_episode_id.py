import pytest

from screentime.contracts.episode import MAX_EPISODE_ID_LENGTH, EpisodeId, parse_episode_id
from screentime.contracts.errors import InvalidEpisodeId
from screentime.contracts.layout import EpisodeLayout


@pytest.mark.parametrize("value, show, season, episode", [
    ("the-office-s02e07", "the-office", 2, 7),
    ("x-s00e00", "x", 0, 0),
    ("show2-s10e123", "show2", 10, 123),
    ("a-b-c-s01e01", "a-b-c", 1, 1),
])
def test_valid_ids_parse_and_round_trip(value, show, season, episode):
    ep = parse_episode_id(value)
    assert ep == EpisodeId(show, season, episode)
    assert str(ep) == value


@pytest.mark.parametrize("value", [
    "", "the-office", "The-Office-s02e07", "the-office-s2e7", "the-office-s002e07", "the_office-s02e07",
    "../etc-s01e01", "the-office-s02e07/..", "a/b-s01e01", "-show-s01e01", "show--x-s01e01",
    "sh\u00f6w-s01e01", "show-s01e01\n", " show-s01e01", "show-s01e01.mp4", "x" * 10_000,
])
def test_invalid_ids_are_rejected_with_a_clear_message(value):
    with pytest.raises(InvalidEpisodeId) as err:
        parse_episode_id(value)
    message = str(err.value)
    assert "\n" not in message and len(message) < 300


def test_long_ids_name_the_limit():
    with pytest.raises(InvalidEpisodeId, match=str(MAX_EPISODE_ID_LENGTH)):
        parse_episode_id("a" * 10_000 + "-s01e01")


def test_non_canonical_id_suggests_the_canonical_one():
    with pytest.raises(InvalidEpisodeId, match="the-office-s02e07"):
        parse_episode_id("the-office-s002e007")


def test_layout_paths_stay_under_artifacts():
    layout = EpisodeLayout(parse_episode_id("the-office-s02e07"))
    assert layout.episode_prefix("frames") == "artifacts/frames/the-office/s02/e07/"
    assert layout.manifest_key == "artifacts/manifests/the-office/s02/e07/manifest.json"
    assert layout.frame_key("run-1", 42) == "artifacts/frames/the-office/s02/e07/run-1/frame_000042.jpg"
    with pytest.raises(ValueError):
        layout.run_prefix("frames", "../x")


def test_episode_files_are_recognised_only_directly_in_the_episode_folder():
    from screentime.contracts.layout import FAILURES_FILE, PROGRESS_FILE, episode_of_key

    names = (PROGRESS_FILE, FAILURES_FILE)
    assert str(episode_of_key("artifacts/manifests/the-office/s02/e07/progress.json", names)) == "the-office-s02e07"
    assert str(episode_of_key("artifacts/manifests/the-office/s02/e07/failures.json", names)) == "the-office-s02e07"
    assert episode_of_key("artifacts/manifests/the-office/s02/e07/manifest.json", names) is None  # not asked for
    assert episode_of_key("artifacts/manifests/the-office/s02/e07/run1/progress.jsonl", names) is None
    assert episode_of_key("artifacts/manifests/The Office/s02/e07/progress.json", names) is None
    assert episode_of_key("artifacts/crops/the-office/s02/e07/progress.json", names) is None
