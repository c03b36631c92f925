"""The `screentime` command end to end, as a user runs it (a real subprocess)."""

import json
import os
import subprocess
import sys

import dagster as dg
import pytest

EXE = os.path.join(os.path.dirname(sys.executable), "screentime")


def screentime(*args, cwd, env_extra=None):
    env = {**os.environ, "DAGSTER_HOME": str(cwd / "dagster_home"), "SCREENTIME_DATA_DIR": str(cwd / "data"),
           "STORAGE_BACKEND": "local", **(env_extra or {})}
    return subprocess.run([EXE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_run_prints_json_progress_and_records_the_run_in_the_instance(tmp_path, carphone):
    done = screentime("run", str(carphone), "--ep-id", "carphone-s01e03", "--fps", "10", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert records[-1]["phase"] == "done" and records[-1]["counts"]["frames_analyzed"] == 40
    assert [r["ratio"] for r in records] == sorted(r["ratio"] for r in records)
    later = [r for r in records if r["phase"] in ("embedding", "grouping")]
    assert len(later) == 2 and all(r["fps"] == 0 and r["eta_seconds"] is None for r in later)  # no rate to claim
    assert (tmp_path / "data/artifacts/manifests/carphone/s01/e03/manifest.json").is_file()
    # Not a terminal: the records exactly as the run's history has them, byte for byte, and no bar.
    [run_history] = (tmp_path / "data/artifacts/manifests/carphone/s01/e03").glob("*/progress.jsonl")
    assert done.stdout == run_history.read_text()
    assert "%|" not in done.stderr
    os.environ["DAGSTER_HOME"], old = str(tmp_path / "dagster_home"), os.environ.get("DAGSTER_HOME")
    try:
        with dg.DagsterInstance.get() as instance:
            runs = instance.get_runs()
            assert len(runs) == 1 and runs[0].job_name == "episode_job"
            assert runs[0].tags["dagster/partition"] == "carphone-s01e03"
            assert instance.get_dynamic_partitions("episodes") == ["carphone-s01e03"]
    finally:
        if old is None:
            del os.environ["DAGSTER_HOME"]
        else:
            os.environ["DAGSTER_HOME"] = old


@pytest.mark.parametrize("args, message", [
    (["/nonexistent/video.mp4", "--ep-id", "show-s01e01"], "video not found"),
    (["{carphone}", "--ep-id", "../../etc-s01e01"], "invalid episode id"),
    (["{carphone}", "--ep-id", "show-s01e01", "--device", "tpu"], "unknown device"),
    (["{carphone}", "--ep-id", "show-s01e01", "--device", "cuda"], "CUDA is not available"),
    (["{carphone}", "--ep-id", "show-s01e01", "--jpeg-quality", "0"], "jpeg_quality"),
    (["{carphone}", "--ep-id", "show-s01e01", "--fps", "-1"], "fps"),
    (["{text}", "--ep-id", "show-s01e01"], "not a readable video"),
])
def test_bad_input_fails_fast_with_one_line_and_writes_nothing(tmp_path, carphone, args, message):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    args = [a.format(carphone=carphone, text=text) for a in args]
    done = screentime("run", *args, cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert done.stdout == ""
    assert not (tmp_path / "data").exists() and not (tmp_path / "dagster_home").exists()


@pytest.mark.parametrize("host, token, warned", [
    ("127.0.0.1", "", False), ("127.0.0.2", "", False), ("::1", "", False), ("localhost", "", False),
    ("0.0.0.0", "", True), ("::", "", True), ("10.1.2.3", "", True), ("api.internal", "", True),
    ("0.0.0.0", "secret", False),
])
def test_api_warns_when_exposed_without_a_token(host, token, warned):
    from screentime.cli.main import exposed_without_token

    assert exposed_without_token(host, token) is warned


def test_run_prints_the_people_and_people_lists_the_show(tmp_path, cap13):
    done = screentime("run", str(cap13), "--ep-id", "cap-s01e01", "--fps", "5", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    at = lines.index("people: 1 in 1 track(s) over 1 shot(s)")
    assert lines[at - 1].startswith("done: run ") and lines[at - 1].endswith(" published cap-s01e01")
    assert lines[at + 1].split() == ["who", "on", "screen", "share", "appearances"]
    assert lines[at + 2].split() == ["person", "1", "30.6", "s", "100.0%", "1"]  # who, for how long
    assert lines[at + 3:] == [  # and where to look next, last
        "next:",
        "  manifest       data/artifacts/manifests/cap/s01/e01/manifest.json",
        f"  Dagster UI     make ui (DAGSTER_HOME={tmp_path / 'dagster_home'}), then http://127.0.0.1:3000: the run, "
        "its assets and checks",
        f"  review people  {EXE} api, then http://127.0.0.1:8000/review?show=cap&ep=cap-s01e01",
        f"  screen time    {EXE} people cap: the show's people, season by season",
    ]
    listed = screentime("people", "cap", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].startswith("cap: 1 episode(s), 1 people") and "s01" in lines[1]
    assert lines[2].split()[:3] == ["1", "person", "1"] and lines[2].endswith("30.6s")
    missing = screentime("people", "nobody", cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.startswith("error: no people for nobody yet")
