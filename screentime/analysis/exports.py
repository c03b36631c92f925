"""Writing frame and crop JPEGs in the background while the analysis goes on.

A bounded number of images wait at any time (memory stays flat). A failed export is logged and
counted, never fatal: the run's tables and manifest say how many failed.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor

import cv2
import numpy as np

from screentime.storage import Storage

log = logging.getLogger(__name__)
# A full disk or an unreachable bucket fails every write the same way: the first few failures are
# reported one by one, the rest only counted (counts.export_failures, and the run's own end).
REPORTED_FAILURES = 3


class ExportWriter:
    def __init__(self, storage: Storage, jpeg_quality: int, workers: int = 2, max_pending: int = 64,
                 on_warning=None):
        self.storage = storage
        self.params = [int(cv2.IMWRITE_JPEG_QUALITY), int(jpeg_quality)]
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="screentime-export")
        self._slots = threading.BoundedSemaphore(max_pending)
        self._lock = threading.Lock()
        self.written = 0
        self.failed_keys: set[str] = set()
        self.on_warning = on_warning or log.warning

    def submit(self, key: str, image: np.ndarray) -> None:
        self._slots.acquire()
        future: Future = self._pool.submit(self._write, key, image)
        future.add_done_callback(lambda _f: self._slots.release())

    def _write(self, key: str, image: np.ndarray) -> None:
        try:
            ok, buffer = cv2.imencode(".jpg", image, self.params)
            if not ok:
                raise ValueError("JPEG encoding failed")
            self.storage.put_bytes(key, buffer.tobytes(), "image/jpeg")
        except Exception as exc:  # counted and reported; the run goes on
            with self._lock:
                self.failed_keys.add(key)
                failures = len(self.failed_keys)
            if failures <= REPORTED_FAILURES:
                more = " (further export failures are counted, not reported)" if failures == REPORTED_FAILURES else ""
                self.on_warning(f"export of {key} failed: {type(exc).__name__}: {exc}{more}")
        else:
            with self._lock:
                self.written += 1

    @property
    def failed(self) -> int:
        return len(self.failed_keys)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
