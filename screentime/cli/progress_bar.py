"""What `screentime run` shows while a run goes: a progress bar in a terminal, JSON lines otherwise.

The progress logger prints each progress record as one JSON line on stdout (`echo`,
pipelines/loggers.py). When stdout is not a terminal (a pipe, CI, a service), or with `--json`,
those lines are the output, unchanged. In a terminal, `progress_output("bar")` reads them back as
they are printed and draws them as one bar (tqdm): episode, phase, the run's percentage, frames
done/total, fps, ETA and device. Anything else printed meanwhile goes above the bar, each line
whole and on its own stream, so warnings and errors stay on stderr. The bar is closed (its last
state kept, then a newline) however the run ends: done, failed, interrupted.

The bar and the lines above it are written to copies of the terminal's descriptors taken before
the run: while a step runs, Dagster points descriptors 1 and 2 at its compute log files and copies
them to the terminal from a `tail` process, which would print them late, into the bar.
"""

from __future__ import annotations

import io
import os
import sys
import threading
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from typing import Callable, Iterator, Literal, TextIO

from pydantic import ValidationError
from tqdm import tqdm

from screentime.contracts.progress import ProgressRecord

Mode = Literal["bar", "json", "quiet"]

STEPS = 100  # the bar shows the record's `ratio` (the whole run), in whole percent, rounded down
TRACK_PHASES = ("embedding", "grouping")  # their records count tracks, not frames
STATS_WIDTH = 40  # the text right of the bar is padded to this, so the bar keeps its length


def progress_mode(quiet: bool, json_lines: bool, stdout: TextIO | None = None) -> Mode:
    """`quiet`: nothing; `json`: the records as JSON lines; `bar`: a bar (stdout is a terminal)."""
    if quiet:
        return "quiet"
    if json_lines or not _is_terminal(stdout or sys.stdout):
        return "json"
    return "bar"


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


def describe(record: ProgressRecord) -> str:
    """The text right of the bar: `26/41 frames, 12.3 fps, ETA 00:01, cpu`."""
    unit = "tracks" if record.phase in TRACK_PHASES else "frames"
    fps = f"{record.fps:.1f} fps" if record.fps > 0 else "-- fps"
    eta = "--:--" if record.eta_seconds is None else tqdm.format_interval(record.eta_seconds)
    return f"{record.frames_done}/{record.frames_total} {unit}, {fps}, ETA {eta}, {record.device}".ljust(STATS_WIDTH)


class _Tqdm(tqdm):
    monitor_interval = 0  # no monitor thread: the bar moves only when a record comes

    def __init__(self, stats: str, **kwargs):
        self.stats = stats  # read by format_dict, which the constructor's first draw uses
        super().__init__(**kwargs)

    @property
    def format_dict(self) -> dict:
        return {**super().format_dict, "stats": self.stats}


class RunBar:
    """One bar on `out` (a terminal), drawn from progress records; `above` prints a line over it."""

    def __init__(self, out: TextIO):
        self.out = out
        self.lock = threading.RLock()
        self._bar: _Tqdm | None = None  # drawn at the first record, so nothing shows before the run

    def show(self, record: ProgressRecord) -> None:
        with self.lock:
            desc, stats, n = f"{record.ep_id} {record.phase:<9}", describe(record), int(record.ratio * STEPS)
            if self._bar is None:
                self._bar = _Tqdm(
                    stats,
                    total=STEPS,
                    initial=n,
                    desc=desc,
                    file=self.out,
                    ncols=self._width(),
                    bar_format="{desc} {percentage:3.0f}%|{bar}| {stats}",
                    leave=True,
                )
                return
            self._bar.stats, self._bar.n, self._bar.ncols = stats, n, self._width()  # the window may have changed
            self._bar.set_description_str(desc, refresh=False)
            self._bar.refresh()

    def above(self, stream: TextIO, text: str) -> None:
        with self.lock:
            if self._bar is not None:
                self._bar.clear()
            stream.write(text)
            stream.flush()
            if self._bar is not None:
                self._bar.refresh()

    def close(self) -> None:
        with self.lock:
            if self._bar is not None:
                self._bar.close()  # keeps its last state on screen and ends the line
                self._bar = None

    def _width(self) -> int:
        try:
            columns = os.get_terminal_size(self.out.fileno()).columns
        except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
            columns = 0
        return columns or 80


class LineStream(io.TextIOBase):
    """Stands in for sys.stdout or sys.stderr (`original`): hands each complete line written to
    `on_line` (a partial one at `finish`); its descriptor, encoding and isatty are the original's."""

    def __init__(self, on_line: Callable[[str], None], original: TextIO, lock: threading.RLock):
        super().__init__()
        self.on_line, self.original, self.lock = on_line, original, lock
        self._pending = ""

    def write(self, text: str) -> int:
        with self.lock:
            self._pending += text
            *lines, self._pending = self._pending.split("\n")
            for line in lines:
                self.on_line(line + "\n")
        return len(text)

    def finish(self) -> None:
        with self.lock:
            if self._pending:
                pending, self._pending = self._pending, ""
                self.on_line(pending + "\n")

    def isatty(self) -> bool:
        return _is_terminal(self.original)

    def fileno(self) -> int:  # Dagster captures the descriptor for its compute logs, as without the bar
        return self.original.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self.original, "encoding", None) or "utf-8"


@contextmanager
def _terminal_copy(stream: TextIO) -> Iterator[TextIO]:
    """A stream on a copy of `stream`'s descriptor (line-buffered), or `stream` itself if it has none."""
    stream.flush()
    try:
        fd = os.dup(stream.fileno())
    except (AttributeError, ValueError, OSError, io.UnsupportedOperation):  # e.g. a test's StringIO
        yield stream
        return
    with os.fdopen(
        fd, "w", buffering=1, encoding=getattr(stream, "encoding", None) or "utf-8", errors="replace"
    ) as copy:
        yield copy


@contextmanager
def progress_output(mode: Mode) -> Iterator[None]:
    """Around a run whose progress logger echoes its records: with `bar`, draw them as a bar on
    stdout, and print every other line of stdout and stderr above it. `json` and `quiet` change
    nothing (the logger prints JSON lines or nothing)."""
    if mode != "bar":
        yield
        return
    with _terminal_copy(sys.stdout) as out, _terminal_copy(sys.stderr) as err:
        bar = RunBar(out)

        def on_stdout(line: str) -> None:
            try:
                record = ProgressRecord.model_validate_json(line)
            except ValidationError:  # not a progress record: somebody's print
                bar.above(out, line)
                return
            bar.show(record)

        stdout = LineStream(on_stdout, sys.stdout, bar.lock)
        stderr = LineStream(lambda line: bar.above(err, line), sys.stderr, bar.lock)
        try:
            with redirect_stdout(stdout), redirect_stderr(stderr):
                yield
        finally:
            stdout.finish()
            stderr.finish()
            bar.close()
