"""Seconds on screen come from the stream as it decoded, not from its header or its average rate.

Real odd containers, written with PyAV from carphone's frames (one man's face in every frame):
an MKV and an MP4 with 100 frames spread over 67.5 s, an MPEG-TS whose timestamps restart halfway
(two recordings joined with `cat`), and an AVI whose header claims 84,313 frames for 120.
"""

import json
from fractions import Fraction

import av
import cv2
import pyarrow.parquet as pq
import pytest

from screentime.analysis.episode import analyze_episode
from screentime.contracts.episode import parse_episode_id
from screentime.contracts.options import RunOptions
from screentime.identity.screen_time import FrameSeconds
from screentime.storage import LocalStorage
from screentime.vision.video import FrameReader, probe_video
from tests.dagster_helpers import local_defs, run_episode_job
from tests.test_hostile_media import lying_avi

GAP_MS = 675  # 100 frames over 67.5 s: one frame every 0.675 s


def carphone_frames(carphone, n: int) -> list:
    capture = cv2.VideoCapture(str(carphone))
    frames = []
    while len(frames) < n:
        ok, image = capture.read()
        if not ok:
            capture.release()
            capture = cv2.VideoCapture(str(carphone))
            continue
        frames.append(image)
    capture.release()
    return frames


def write_clip(carphone, path, pts: list[int], time_base: Fraction, container_format: str | None = None,
               rate=25):
    """carphone's frames at the given presentation times (in `time_base` units), H.264."""
    container = av.open(str(path), "w", format=container_format)
    stream = container.add_stream("libx264", rate=rate)
    stream.width, stream.height, stream.pix_fmt = 176, 144, "yuv420p"
    stream.time_base = time_base
    for at, image in zip(pts, carphone_frames(carphone, len(pts)), strict=True):
        frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts, frame.time_base = at, time_base
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


@pytest.fixture(scope="module")
def joined_ts(tmp_path_factory, carphone):
    """Two 4 s MPEG-TS recordings joined byte for byte: the second half's times start again at 0."""
    folder = tmp_path_factory.mktemp("ts")
    part = write_clip(carphone, folder / "part.ts", [i * 3003 for i in range(120)], Fraction(1, 90000), "mpegts",
                      rate=Fraction(30000, 1001))
    joined = folder / "s01e01.ts"
    joined.write_bytes(part.read_bytes() * 2)
    return joined


def analyse(video, tmp_path, **options):
    warnings = []
    analysis = analyze_episode(parse_episode_id("odd-s01e01"), probe_video(video), "run1",
                               RunOptions(save_crops=False, **options), LocalStorage(tmp_path / "data"),
                               on_warning=warnings.append)
    return analysis, warnings


@pytest.mark.parametrize("container_format, suffix", [("matroska", "mkv"), ("mp4", "mp4")])
def test_sparse_frames_stand_for_the_time_until_the_next(carphone, tmp_path, container_format, suffix):
    """Before: the MKV gave 4.0 s on screen (100 frames x 1/25), frame_count 1,689 and 1,589
    'unreadable' frames; the MP4 31.84 s."""
    clip = write_clip(carphone, tmp_path / f"gaps.{suffix}", [i * GAP_MS for i in range(100)], Fraction(1, 1000),
                      container_format)
    analysis, warnings = analyse(clip, tmp_path)
    frames = analysis.frames
    assert analysis.source.frame_count == 100 and analysis.counts.frames_unreadable == 0
    assert analysis.source.duration_s == pytest.approx(67.5, abs=0.7)
    assert sum(frames["duration_s"].to_pylist()) == pytest.approx(analysis.source.duration_s)
    assert all(d == pytest.approx(0.675, abs=0.05) for d in frames["duration_s"].to_pylist())  # x264 keeps 1/25 s
    on_screen = FrameSeconds(frames, analysis.analysis_fps).of(analysis.detections["frame_index"].to_numpy())
    assert 0.95 * 67.5 <= on_screen <= analysis.source.duration_s + 1e-6  # a face in (nearly) every frame
    assert analysis.shots.to_pylist()[-1]["end_s"] == pytest.approx(analysis.source.duration_s)
    assert warnings == []


def test_a_timestamp_reset_is_repaired_and_said(joined_ts, tmp_path):
    frames = list(FrameReader(probe_video(joined_ts), 0, det_size=640))
    times = [f.timestamp_s for f in frames]
    assert len(times) == 240 and all(b > a for a, b in zip(times, times[1:], strict=False))  # monotone
    assert times[-1] == pytest.approx(8.0, abs=0.05)  # not 120 frames stamped 4.004
    analysis, warnings = analyse(joined_ts, tmp_path)
    assert analysis.counts.timestamp_repairs == 1 and any("went backwards 1 time" in w for w in warnings)
    assert analysis.source.duration_s == pytest.approx(8.008, abs=0.01)
    assert sum(analysis.frames["duration_s"].to_pylist()) == pytest.approx(analysis.source.duration_s)


def test_a_header_that_claims_more_frames_than_decode_does_not_set_the_length(carphone, tmp_path):
    """Before: frame_count 84,313, duration 2,810.4 s, a shot ending at 2,810 s, share 0.0014."""
    clip = lying_avi(carphone, tmp_path / "s01e01.avi", claimed=84_313)
    info = probe_video(clip)
    assert info.frame_count == 84_313 and info.count_trusted  # believable by its size: only decoding tells
    analysis, warnings = analyse(clip, tmp_path)
    assert analysis.source.frame_count == 120 and analysis.source.announced_frame_count == 84_313
    assert analysis.source.duration_s == pytest.approx(4.0, abs=0.05)
    assert analysis.shots.to_pylist()[-1]["end_s"] == pytest.approx(4.0, abs=0.05)
    assert analysis.counts.frames_unreadable == 84_313 - 120  # announced, not in the file: said, not hidden
    assert any("announces 84,313 frames" in w and "120 decoded" in w for w in warnings)


def test_the_episode_job_on_joined_recordings_counts_each_second_once(data_dir, instance, joined_ts):
    """Before: 8.008 s on screen, share 2.0, and the failed within_episode_length check unsaid."""
    result = run_episode_job(local_defs(data_dir), instance, "joined-s01e01", joined_ts)
    assert result.success
    manifest = json.loads((data_dir / "artifacts/manifests/joined/s01/e01/manifest.json").read_text())
    assert manifest["counts"]["timestamp_repairs"] == 1 and manifest["source"]["frame_count"] == 240
    assert manifest["source"]["duration_s"] == pytest.approx(8.008, abs=0.01)
    rows = pq.read_table(data_dir / f"artifacts/manifests/joined/s01/e01/{result.run_id}/screentime.parquet")
    [person] = rows.to_pylist()
    assert person["seconds"] == pytest.approx(8.0, abs=0.1) and 0.98 <= person["share"] <= 1.0
    evaluations = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert len(evaluations) == 4 and all(e.passed for e in evaluations)


def test_a_failed_check_is_said_by_the_cli_and_tagged_on_the_run(data_dir, tmp_path, carphone, monkeypatch,
                                                                 capsys):
    """A check cannot fail on a correct run, so this one is made to: the CLI says so on stderr and
    exits 3, and the Dagster run carries the failed check's name."""
    import dagster as dg

    import screentime.assets.checks as checks
    from screentime.cli.main import EXIT_CHECKS, main
    from screentime.contracts.names import FAILED_CHECKS_TAG

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setattr(checks, "within_length",
                        lambda table, manifest: (False, {"longest_s": 8.0, "episode_s": 4.0}))
    code = main(["run", str(carphone), "--ep-id", "carphone-s01e01", "--quiet"])
    err = capsys.readouterr().err
    assert code == EXIT_CHECKS, err
    assert "error: check within_episode_length on screentime failed (longest_s 8.0, episode_s 4.0)" in err
    with dg.DagsterInstance.get() as instance:
        [run] = instance.get_runs()
        assert run.tags[FAILED_CHECKS_TAG] == "within_episode_length"
