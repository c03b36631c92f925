"""The progress logger: a Dagster logger that turns the pipeline's progress events into files.

Assets log progress with `extra=progress_extra(record, storage)`; this logger writes each
record through the storage layer as progress.json (latest, atomic) and progress.jsonl (history),
and with `echo: true` also prints it as one JSON line on stdout (the CLI does this). Other log
records it ignores. It runs in whichever process logs (each step's, under the multiprocess
executor); `ProgressStore` keeps seq and ratio monotone across them.
"""

from __future__ import annotations

import logging
import sys
import time
from functools import lru_cache

import dagster as dg

from screentime.contracts.progress import ProgressRecord
from screentime.progress.log_records import PROGRESS, STORAGE
from screentime.progress.store import ProgressStore
from screentime.storage import StorageSettings, open_storage


@lru_cache(maxsize=8)
def _store(settings_json: str) -> ProgressStore:
    return ProgressStore(open_storage(StorageSettings.model_validate_json(settings_json)))


class ProgressFileHandler(logging.Handler):
    def __init__(self, echo: bool):
        super().__init__(level=logging.DEBUG)
        self.echo = echo
        self._last_report = -1e9

    def emit(self, record: logging.LogRecord) -> None:
        data = getattr(record, PROGRESS, None)
        settings = getattr(record, STORAGE, None)
        if data is None or settings is None:
            return
        try:
            written = _store(settings).write(ProgressRecord.model_validate(data))
            if self.echo and written is not None:  # None: a superseded run's record, not written
                sys.stdout.write(written.model_dump_json() + "\n")
                sys.stdout.flush()
        except Exception as exc:  # a logger must never break the run it reports on
            self._report(exc)

    def _report(self, exc: Exception) -> None:
        # One line, at most every 30 s: an unreachable bucket fails every record the same way.
        now = time.monotonic()
        if now - self._last_report >= 30:
            self._last_report = now
            sys.stderr.write(f"screentime: progress not written: {type(exc).__name__}: {exc}\n")


def _news(record: logging.LogRecord) -> bool:
    """False for what repeats the step failure: each later step skipped, and the run's own end."""
    message = record.getMessage()
    return "Not executing." not in message and " - RUN_FAILURE - " not in message


class OneLineFormatter(logging.Formatter):
    """Each message's first line only: a step failure's stack trace stays in the run's event log."""

    def format(self, record: logging.LogRecord) -> str:
        lines = record.getMessage().strip().splitlines() or [""]
        return f"{record.levelname}: {lines[0]}"


@dg.logger(
    config_schema={
        "log_level": dg.Field(str, default_value="INFO", description="DEBUG, INFO, WARNING, ERROR or CRITICAL."),
        "brief": dg.Field(bool, default_value=False,
                          description="One line per message, no stack traces (the CLI: the run's event log in "
                          "the UI keeps everything)."),
    },
    description="Run messages on stderr (Dagster's console logger, with a one-line mode for the CLI).",
)
def console_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    config = init_context.logger_config
    level = logging.getLevelName(config["log_level"].upper())
    if not isinstance(level, int):
        raise dg.Failure(f"console log_level {config['log_level']!r} is not one of "
                         "DEBUG, INFO, WARNING, ERROR, CRITICAL")
    logger = logging.Logger("dagster", level=level)
    handler = logging.StreamHandler(sys.stderr)
    if config["brief"]:
        handler.setFormatter(OneLineFormatter())
        handler.addFilter(_news)
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s - %(name)s - %(levelname)s - %(message)s"))
    logger.addHandler(handler)
    return logger


@dg.logger(
    config_schema={"echo": dg.Field(bool, default_value=False, description="Also print records on stdout.")},
    description="Writes progress.json / progress.jsonl for each episode run (see README, Progress).",
)
def progress_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("screentime.progress", level=logging.DEBUG)
    logger.addHandler(ProgressFileHandler(echo=init_context.logger_config["echo"]))
    return logger
