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
            if self.echo:
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


@dg.logger(
    config_schema={"echo": dg.Field(bool, default_value=False, description="Also print records on stdout.")},
    description="Writes progress.json / progress.jsonl for each episode run (see README, Progress).",
)
def progress_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("screentime.progress", level=logging.DEBUG)
    logger.addHandler(ProgressFileHandler(echo=init_context.logger_config["echo"]))
    return logger
