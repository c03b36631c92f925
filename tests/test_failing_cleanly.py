"""Failing cleanly: a run that fails (a full disk here, a real tmpfs) removes its partial files,
ends its progress with `error`, and says so in a few lines; what killed runs left behind (temp
files, empty folders, partial outputs) is removed by the next run of the episode."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from screentime.analysis.publish import discard_stale_runs, prune_other_runs
from screentime.contracts.episode import parse_episode_id
from screentime.contracts.layout import EpisodeLayout
from screentime.library.failures import FailureLedgers
from screentime.progress.store import ProgressStore
from screentime.storage import LocalStorage
from tests.conftest import artifact_files
from tests.manifests import sample_manifest

EXE = os.path.join(os.path.dirname(sys.executable), "screentime")


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MiB tmpfs: a real full disk (needs root and mount rights, as CI's container has)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def run_lines(stderr: str) -> list[str]:
    """What a run said on stderr, less Dagster's notice that partitioned asset checks are a preview
    feature (assets/checks.py declares them so): printed once per process, about the code, not the run."""
    lines, notice = [], False
    for line in stderr.strip().splitlines():
        notice = "PreviewWarning" in line or (notice and line.startswith(" "))
        if not notice:
            lines.append(line)
    return lines


def test_a_full_disk_fails_in_a_few_lines_ends_the_progress_and_leaves_room(small_disk, tmp_path, cap13, carphone):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "SCREENTIME_DATA_DIR": str(small_disk / "data"),
           "STORAGE_BACKEND": "local"}
    run = subprocess.run([EXE, "run", str(cap13), "--ep-id", "full-s01e01", "--save-frames", "--fps", "0", "--quiet"],
                         env=env, capture_output=True, text=True, timeout=600)
    lines = run_lines(run.stderr)
    assert run.returncode == 1 and len(lines) <= 8, run.stderr  # not one warning per failed JPEG
    assert "No space left on device" in lines[-1] and "partial file(s) removed" in lines[-1], lines[-1]
    assert "Traceback" not in run.stderr and "Stack Trace" not in run.stderr

    data = small_disk / "data"
    progress = ProgressStore(LocalStorage(data)).latest(parse_episode_id("full-s01e01"))
    assert progress.phase == "error" and progress.error_type == "OSError" and progress.frames_done > 0
    left = artifact_files(data)
    # nothing partial: its progress, and the failure counted in the episode's ledger (`end_failed_run`)
    assert all(name.endswith(("/progress.json", "/progress.jsonl", "/failures.json")) for name in left), left
    ledger = FailureLedgers(LocalStorage(data)).read(parse_episode_id("full-s01e01"))
    assert [(f.run_id, f.error_type) for f in ledger.failures] == [(progress.run_id, "OSError")]

    # The room is back: the next run on this disk (another episode) succeeds.
    again = subprocess.run([EXE, "run", str(carphone), "--ep-id", "next-s01e01", "--quiet"],
                           env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert (data / "artifacts/manifests/next/s01/e01/manifest.json").is_file()


def test_the_next_run_removes_what_killed_runs_left_and_keeps_the_published_one(tmp_path):
    store = LocalStorage(tmp_path)
    ep = parse_episode_id("left-s01e01")
    layout = EpisodeLayout(ep)
    manifest = sample_manifest(ep_id=str(ep), run_id="published")
    store.put_text(layout.manifest_key, manifest.model_dump_json())
    store.put_bytes(layout.table_key("published", "frames"), b"tables")
    store.put_bytes(layout.crop_key("published", 1, 0), b"jpeg")
    store.put_bytes(layout.frame_key("killed", 3), b"jpeg")  # a run killed mid-way
    store.append_text(layout.progress_history_key("killed"), '{"seq": 1}\n')
    store.put_bytes(layout.table_key("killed", "tracks"), b"partial")
    only_temp = Path(tmp_path, layout.run_prefix("crops", "temp-only"))
    only_temp.mkdir(parents=True)
    (only_temp / ".frame_000001.jpg.abc.tmp").write_bytes(b"half")  # a writer killed mid-write
    Path(tmp_path, layout.run_prefix("frames", "empty")).mkdir(parents=True)

    removed = discard_stale_runs(store, ep, "new")
    assert removed == 3  # frame, table, temp file (the empty folder holds nothing to count)
    assert artifact_files(tmp_path) == sorted([
        layout.manifest_key, layout.table_key("published", "frames"), layout.crop_key("published", 1, 0),
        layout.progress_history_key("killed"),  # kept: whoever follows the killed run sees its end
    ])
    assert not only_temp.exists() and not Path(tmp_path, layout.run_prefix("frames", "empty")).exists()

    assert prune_other_runs(store, layout, keep="published") == 1
    assert not Path(tmp_path, layout.run_prefix("manifests", "killed")).exists()
