"""Shared fixtures: the real test clips, temporary storage and Dagster instances."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from screentime.contracts.settings import load_settings
from screentime.runtime import configure_runtime

# The tests are an entry point: the environment the native libraries read, before any of them loads.
configure_runtime(load_settings().threads)

from tests.s3_fixtures import s3_client, s3_env, s3_server  # noqa: F401, E402  (a real S3 server)

# A test run started in the background from a script (`make test &`, CI harnesses) inherits SIGINT
# ignored (the shell's rule for `&`). Then every Python server the tests start ignores the SIGINT
# that stops it (dagster dev sat out its whole grace period), and Dagster, restoring the ignored
# SIGINT after an in-process run, sets SIGTERM to ignored as well, so the log-tailing children of
# later runs shrug off their terminate() and each run's end waits 2 x 30 s for them. Tests run with
# Python's own SIGINT handler, as from a terminal.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
if signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

REPO = Path(__file__).resolve().parents[1]
# The clips are committed under tests/media (sources, licences and sha256 in its README).
MEDIA = Path(os.environ.get("SCREENTIME_TEST_MEDIA") or Path(__file__).resolve().parent / "media")


def _clip(name: str) -> Path:
    path = MEDIA / name
    if not path.is_file():
        pytest.fail(f"test clip {path} is missing (see tests/media/README.md)")
    return path


@pytest.fixture(scope="session")
def carphone() -> Path:
    """176x144, 29.97 fps, 120 frames: one man's face in every frame."""
    return _clip("carphone_pristine.mp4")


@pytest.fixture(scope="session")
def group_shots() -> Path:
    """1280x720, 25 fps, 525 frames: 10 shots of six group photos, 22 people (tests/media/README.md)."""
    return _clip("group_shots.mp4")


@pytest.fixture(scope="session")
def identity_people() -> Path:
    """640x360, 25 fps, 615 frames: 18 shots of 6 real people, 3 different photos each, over a
    blurred enlarged copy of each photo (truth: identity_people.json beside it)."""
    return _clip("identity_people.mp4")


@pytest.fixture(scope="session")
def cap13() -> Path:
    """400x300, 25 fps, 765 frames: one person talking, head moving."""
    return _clip("cap13_edit2.mp4")


def _first_half(source: Path, target: Path) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


@pytest.fixture(scope="session")
def truncated_video(tmp_path_factory, carphone) -> Path:
    """A real video cut in half whose index (moov) was at the end: no decodable frames at all."""
    return _first_half(carphone, tmp_path_factory.mktemp("bad") / "truncated.mp4")


@pytest.fixture(scope="session")
def partly_decodable_video(tmp_path_factory, cap13) -> Path:
    """A real video cut in half whose index is at the start: its first ~370 frames decode."""
    return _first_half(cap13, tmp_path_factory.mktemp("bad") / "half.mp4")


@pytest.fixture(scope="session")
def group_people(group_shots, tmp_path_factory):
    """group_shots.mp4 analysed at 8 fps, its tracks embedded and grouped: (analysis, embeddings, people)."""
    from screentime.analysis.episode import analyze_episode
    from screentime.contracts.episode import parse_episode_id
    from screentime.contracts.options import RunOptions
    from screentime.identity.embedders import load_embedder
    from screentime.identity.episode import embed_tracks, group_episode
    from screentime.storage import LocalStorage
    from screentime.vision.video import probe_video

    analysis = analyze_episode(parse_episode_id("group-s01e01"), probe_video(group_shots), "run1",
                               RunOptions(fps=8, save_crops=False), LocalStorage(tmp_path_factory.mktemp("g")))
    embeddings, _ = embed_tracks(analysis.faces, analysis.tracks, load_embedder())
    return analysis, embeddings, group_episode(embeddings, analysis.detections)


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """A fresh artifact root, also exported as SCREENTIME_DATA_DIR for code that reads the env."""
    root = tmp_path / "data"
    monkeypatch.setenv("SCREENTIME_DATA_DIR", str(root))
    monkeypatch.setenv("STORAGE_BACKEND", "local")
    return root


@pytest.fixture
def instance():
    import dagster as dg

    # Dagster keeps "the current defs state storage" in a context variable that the last instance
    # created sets; after another test's instance is gone, loading definitions failed with
    # "Attempted to resolve undefined DagsterInstance weakref" (1 run in 3). Name this test's.
    from dagster._core.storage.defs_state.base import set_defs_state_storage

    with dg.instance_for_test() as inst, set_defs_state_storage(inst.defs_state_storage):
        yield inst


def artifact_files(root: Path) -> list[str]:
    """Every file under root, relative, sorted."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
