"""`screentime run` in a terminal: a real pseudo-terminal around a real run shows a progress bar,
not JSON lines; `--json` there prints the same records as a pipe gets; `--quiet` prints neither;
Ctrl-C ends the bar before the error. Plus the bar's pieces on their own (fast)."""

import fcntl
import io
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time

from screentime.cli.progress_bar import LineStream, RunBar, describe, progress_mode
from screentime.contracts.progress import ProgressRecord

EXE = os.path.join(os.path.dirname(sys.executable), "screentime")
COLUMNS = 120
BAR = re.compile(r"\d+%\|")  # what every drawing of the bar has, and no other line
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def in_terminal(*args, cwd, interrupt_when: str = "", timeout: float = 300) -> tuple[int, str]:
    """Run `screentime ARGS` with stdin, stdout and stderr on a pseudo-terminal COLUMNS wide, as
    from a shell; return its exit code and everything it wrote there. With `interrupt_when`, press
    Ctrl-C (SIGINT to the process group, as the terminal does) once that text has appeared."""
    env = {**os.environ, "DAGSTER_HOME": str(cwd / "dagster_home"), "SCREENTIME_DATA_DIR": str(cwd / "data"),
           "STORAGE_BACKEND": "local", "TERM": "xterm"}
    env.pop("COLUMNS", None)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, COLUMNS, 0, 0))
    proc = subprocess.Popen([EXE, *args], cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True)
    os.close(slave)
    written, interrupted, deadline = b"", False, time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 1.0)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every process holding the terminal has closed it
                    break
                if not chunk:
                    break
                written += chunk
                if interrupt_when and not interrupted and interrupt_when.encode() in written:
                    os.killpg(proc.pid, signal.SIGINT)
                    interrupted = True
            elif proc.poll() is not None:
                break
        else:
            proc.kill()
            raise AssertionError(f"screentime {args} did not end in {timeout} s; it wrote:\n{written.decode()}")
        return proc.wait(timeout=60), written.decode("utf-8", "replace")
    finally:
        os.close(master)


def screen(written: str) -> list[str]:
    """The rows a terminal shows after `written`: a carriage return goes back to the row's start and
    what follows overwrites it; a line feed starts the next row."""
    rows, row, col = [], [], 0
    for char in ANSI.sub("", written.replace("\r\n", "\n")):
        if char == "\n":
            rows.append("".join(row).rstrip())
            row, col = [], 0
        elif char == "\r":
            col = 0
        else:
            row[col:col + 1] = [char]
            col += 1
    if row:
        rows.append("".join(row).rstrip())
    return rows


def drawings(written: str) -> list[str]:
    """Each drawing of the bar, as written (between carriage returns)."""
    return [part.strip() for part in re.split(r"[\r\n]", written) if BAR.search(part)]


def history(tmp_path, show_path: str) -> str:
    [run_history] = (tmp_path / "data/artifacts/manifests" / show_path).glob("*/progress.jsonl")
    return run_history.read_text()


def test_a_terminal_shows_a_bar_with_phase_frames_fps_and_eta_and_no_json(tmp_path, carphone):
    code, written = in_terminal("run", str(carphone), "--ep-id", "carphone-s01e03", "--fps", "10", cwd=tmp_path)
    rows = screen(written)
    assert code == 0, written
    assert not [row for row in rows if row.lstrip().startswith("{")], written  # no JSON line reached the screen
    bars = drawings(written)
    detecting = re.compile(r"^carphone-s01e03 detecting +\d+%\|.*\| \d+/41 frames, \d+\.\d fps, ETA \d\d:\d\d, cpu$")
    assert any(detecting.match(bar) for bar in bars), bars
    assert [bar.split()[1] for bar in bars][0] == "starting" and "embedding" in written and "grouping" in written
    # The bar ends on the run's last record, whole on its own row, and the summary follows it.
    [last] = [i for i, row in enumerate(rows) if BAR.search(row)]  # one row: every drawing overwrote the last
    assert re.match(r"^carphone-s01e03 done +100%\|█+\| 40/40 frames, [\d.]+ fps, ETA 00:00, cpu$", rows[last]), rows
    assert len(rows[last]) <= COLUMNS
    after = rows[last + 1:]
    assert after[0].startswith("done: run ") and after[0].endswith(" published carphone-s01e03")
    assert after[1] == "people: 1 in 1 track(s) over 1 shot(s)" and after[3].split()[:2] == ["person", "1"]
    assert after[4] == "next:" and after[5].split() == ["manifest", "data/artifacts/manifests/carphone/s01/e03/"
                                                         "manifest.json"]
    assert "/review?show=carphone&ep=carphone-s01e03" in after[7] and after[-1].endswith("season by season")


def test_json_in_a_terminal_prints_the_records_a_pipe_gets(tmp_path, carphone):
    code, written = in_terminal("run", str(carphone), "--ep-id", "carphone-s01e04", "--fps", "10", "--json",
                                cwd=tmp_path)
    assert code == 0, written
    assert not BAR.search(written)
    lines = [line for line in written.replace("\r\n", "\n").splitlines() if line.startswith("{")]
    assert [json.loads(line)["phase"] for line in lines][-1] == "done"
    assert "\n".join(lines) + "\n" == history(tmp_path, "carphone/s01/e04")  # the records, byte for byte


def test_quiet_in_a_terminal_prints_no_progress_but_the_people(tmp_path, carphone):
    code, written = in_terminal("run", str(carphone), "--ep-id", "carphone-s01e05", "--fps", "10", "--quiet",
                                cwd=tmp_path)
    assert code == 0, written
    assert not BAR.search(written) and '{"ep_id"' not in written
    assert "people: 1 in 1 track(s) over 1 shot(s)" in written and "next:" in written


def test_ctrl_c_ends_the_bar_then_says_the_run_failed(tmp_path, cap13):
    code, written = in_terminal("run", str(cap13), "--ep-id", "cap-s01e01", "--fps", "10",
                                interrupt_when="cap-s01e01 detecting", cwd=tmp_path)
    rows = screen(written)
    assert code == 1, written  # EXIT_FAILED: the interrupted run failed, as without a bar
    assert '{"ep_id"' not in written
    ended = [i for i, row in enumerate(rows) if re.match(r"^cap-s01e01 error +\d+%\|.*\| \d+/306 frames", row)]
    failed = [i for i, row in enumerate(rows) if row.startswith("error: run ") and "failed" in row]
    assert ended and failed and ended[-1] < failed[-1], rows
    # Dagster's one-line step failure, printed while the bar showed, went above it, on a row of its own.
    assert any(row.startswith("ERROR: episode_job - ") and "STEP_FAILURE" in row for row in rows), rows


def test_the_mode_follows_the_flags_and_the_terminal():
    leader, terminal = os.openpty()
    read_end, pipe = os.pipe()
    with os.fdopen(terminal, "w") as tty, os.fdopen(leader), os.fdopen(pipe, "w") as piped, os.fdopen(read_end):
        assert progress_mode(quiet=False, json_lines=False, stdout=tty) == "bar"
        assert progress_mode(quiet=False, json_lines=True, stdout=tty) == "json"
        assert progress_mode(quiet=True, json_lines=False, stdout=tty) == "quiet"
        assert progress_mode(quiet=True, json_lines=True, stdout=tty) == "quiet"
        assert progress_mode(quiet=False, json_lines=False, stdout=piped) == "json"
        assert progress_mode(quiet=False, json_lines=False, stdout=io.StringIO()) == "json"


def record(**fields) -> ProgressRecord:
    return ProgressRecord(**{"ep_id": "show-s01e01", "run_id": "r", "phase": "detecting", "device": "cpu", **fields})


def test_the_bar_says_frames_fps_eta_and_device_and_tracks_after_the_analysis():
    assert describe(record(frames_done=26, frames_total=41, fps=12.28, eta_seconds=75.2)).rstrip() == \
        "26/41 frames, 12.3 fps, ETA 01:15, cpu"
    assert describe(record(phase="starting", frames_total=41)).rstrip() == "0/41 frames, -- fps, ETA --:--, cpu"
    assert describe(record(phase="grouping", frames_done=3, frames_total=3)).startswith("3/3 tracks, -- fps")


def test_lines_printed_while_the_bar_shows_go_above_it_whole():
    out, err = io.StringIO(), io.StringIO()
    bar = RunBar(out)
    stream = LineStream(lambda line: bar.above(err, line), err, bar.lock)
    stream.write("before the bar\n")
    bar.show(record(frames_done=10, frames_total=40, ratio=0.25, fps=5.0, eta_seconds=6.0))
    stream.write("a warning in ")
    stream.write("two writes\nand a partial")
    assert err.getvalue() == "before the bar\na warning in two writes\n"  # whole lines only
    stream.finish()
    assert err.getvalue().endswith("and a partial\n")
    drawn = out.getvalue()
    assert drawn.count("show-s01e01 detecting  25%|") == 3  # drawn, then drawn again after each line above it
    assert re.search(r"\r +\r", drawn)  # cleared before each line above it
    bar.close()
    assert out.getvalue().endswith("\n") and bar.above(err, "after\n") is None and err.getvalue().endswith("after\n")
