"""SIGKILL at several points of a run: the previous manifest and its outputs survive intact,
the half-written run is never mixed in, and a re-run afterwards succeeds and cleans up."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

EP = "crash-s01e01"
MANIFEST = Path("artifacts/manifests/crash/s01/e01/manifest.json")


def start_run(tmp_path, video, *flags):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "SCREENTIME_DATA_DIR": str(tmp_path / "data"),
           "STORAGE_BACKEND": "local"}
    exe = os.path.join(os.path.dirname(sys.executable), "screentime")
    return subprocess.Popen([exe, "run", str(video), "--ep-id", EP, "--quiet", *flags], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def run_to_end(tmp_path, video, *flags) -> dict:
    proc = start_run(tmp_path, video, *flags)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    return json.loads((tmp_path / "data" / MANIFEST).read_text())


def assert_complete(data: Path, manifest: dict) -> None:
    """Every output the manifest promises is there, whole, and nothing from another run is."""
    run_id = manifest["run_id"]
    tables = data / f"artifacts/manifests/crash/s01/e01/{run_id}"
    frames = pq.read_table(tables / "frames.parquet")
    assert frames.num_rows == manifest["counts"]["frames_analyzed"]
    assert pq.read_table(tables / "detections.parquet").num_rows == manifest["counts"]["detections"]
    jpegs = list((data / f"artifacts/frames/crash/s01/e01/{run_id}").glob("*.jpg"))
    assert len(jpegs) == manifest["counts"]["frames_saved"]
    crops = list((data / f"artifacts/crops/crash/s01/e01/{run_id}").rglob("*.jpg"))
    assert len(crops) == manifest["counts"]["crops_saved"]


def kill_when(proc, condition, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the run ended before the kill point: {proc.stderr.read()[-500:]}")
        if condition():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return
        time.sleep(0.02)
    proc.kill()
    pytest.fail("kill point never reached")


def progress_frames(data: Path) -> int:
    try:
        return json.loads((data / "artifacts/manifests/crash/s01/e01/progress.json").read_text())["frames_done"]
    except (FileNotFoundError, ValueError):
        return 0


def new_frame_jpegs(data: Path, old_run: str) -> int:
    folder = data / "artifacts/frames/crash/s01/e01"
    return sum(1 for p in folder.glob("*/*.jpg") if p.parent.name != old_run) if folder.exists() else 0


@pytest.mark.parametrize("kill_point", ["decoding", "exporting frames"])
def test_sigkill_keeps_the_previous_episode_intact(tmp_path, carphone, cap13, kill_point):
    data = tmp_path / "data"
    previous = run_to_end(tmp_path, carphone, "--save-frames", "--fps", "10")
    assert_complete(data, previous)

    proc = start_run(tmp_path, cap13, "--save-frames")
    if kill_point == "decoding":
        kill_when(proc, lambda: progress_frames(data) >= 25)
    else:
        kill_when(proc, lambda: new_frame_jpegs(data, previous["run_id"]) >= 100)

    after = json.loads((data / MANIFEST).read_text())
    assert after == previous  # the commit point did not move
    assert_complete(data, previous)

    rerun = run_to_end(tmp_path, cap13, "--fps", "5")
    assert rerun["run_id"] != previous["run_id"] and rerun["counts"]["frames_analyzed"] == 153
    assert_complete(data, rerun)
    runs = {p.name for kind in ("frames", "crops", "manifests")
            for p in (data / f"artifacts/{kind}/crash/s01/e01").glob("*") if p.is_dir()}
    assert runs <= {rerun["run_id"]}  # the killed run's partial folders are gone too


def test_sigkill_during_manifest_writes_never_tears_it(tmp_path):
    """A child republishes a large manifest in a loop; kill it at arbitrary moments."""
    code = textwrap.dedent(f"""
        import sys
        from screentime.analysis.publish import publish_manifest
        from screentime.storage import LocalStorage
        from tests.manifests import sample_manifest
        storage = LocalStorage(sys.argv[1])
        i = 0
        while True:
            i += 1
            publish_manifest(storage, sample_manifest("{EP}", f"run-{{i}}", tracker={{"n": i, "pad": "x" * 2_000_000}}))
            print(i, flush=True)
    """)
    data = tmp_path / "data"
    for attempt in range(5):
        proc = subprocess.Popen([sys.executable, "-c", code, str(data)], stdout=subprocess.PIPE, text=True,
                                cwd=Path(__file__).resolve().parents[1])
        for _ in range(3 + attempt):
            proc.stdout.readline()
        time.sleep(0.01 * attempt)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        manifest = json.loads((data / MANIFEST).read_text())  # always whole JSON
        assert manifest["run_id"] == f"run-{manifest['tracker']['n']}" and len(manifest["tracker"]["pad"]) == 2_000_000
    leftovers = [p.name for p in (data / MANIFEST).parent.iterdir() if p.name != "manifest.json"]
    assert all(name.endswith(".tmp") for name in leftovers)  # only temp files a kill can strand
