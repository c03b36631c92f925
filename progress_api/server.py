"""Serving the API with uvicorn, hardened against clients that hold connections without requests.

uvicorn's h11 protocol has no deadline for a request head: a connection that sends nothing, or its
headers a byte at a time, is kept as long as the client likes, and enough of them exhaust the
process's file descriptors (19,995 slow connections left `/healthz` unanswered). `GuardedH11Protocol`
adds two rules on top of it:

- **A deadline for each request head** (`HEAD_TIMEOUT_S`, from the connection's first byte or the
  previous response's end): a connection still waiting for its head is closed then.
- **A cap on open connections** (`max_connections`, kept below the descriptor limit): past it, the
  connection that has waited longest for its head is dropped to make room; only when every
  connection is busy with a request (e.g. an SSE stream) is the new one refused.

A request head is also bounded in size (`h11_max_incomplete_event_size`), and forwarded-for
headers are trusted only from the proxies the settings name: see `run_server`.
"""

from __future__ import annotations

import asyncio
import resource
import time

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_TIMEOUT_S = 10.0
MAX_REQUEST_HEAD_BYTES = 64 * 1024  # request line and headers
DESCRIPTORS_KEPT = 64  # for files, the storage client and logging, beyond the connections


def raise_descriptor_limit() -> int:
    """Raise the soft limit on open files to the hard limit; returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


class GuardedH11Protocol(H11Protocol):
    head_timeout_s: float = HEAD_TIMEOUT_S
    max_connections: int = 1024

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_deadline: asyncio.TimerHandle | None = None
        self._waiting_since = time.monotonic()
        if len(self.connections) > self.max_connections and not self._evict_idle():
            transport.abort()  # every connection is busy with a request: refuse this one
            return
        self._arm_head_deadline()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self._waiting_for_head():
            self._cancel_head_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():  # keep-alive: the next head gets its own deadline
            self._waiting_since = time.monotonic()
            self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_deadline()
        super().connection_lost(exc)

    def _waiting_for_head(self) -> bool:
        return self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete)

    def _arm_head_deadline(self) -> None:
        self._cancel_head_deadline()
        self._head_deadline = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _cancel_head_deadline(self) -> None:
        if getattr(self, "_head_deadline", None) is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if self._waiting_for_head() and not self.transport.is_closing():
            self.transport.abort()

    def _evict_idle(self) -> bool:
        """Drop the connection that has waited longest for its request head; False if none waits."""
        waiting = [c for c in self.connections
                   if c is not self and isinstance(c, GuardedH11Protocol) and c._waiting_for_head()
                   and not c.transport.is_closing()]
        if not waiting:
            return False
        min(waiting, key=lambda c: c._waiting_since).transport.abort()
        return True


def guarded_protocol(max_connections: int, head_timeout_s: float = HEAD_TIMEOUT_S) -> type[GuardedH11Protocol]:
    return type("GuardedH11Protocol", (GuardedH11Protocol,),
                {"max_connections": max_connections, "head_timeout_s": head_timeout_s})


def run_server(app, settings, host: str, port: int, log_level: str = "info") -> None:
    """uvicorn with the guarded protocol, a bounded request head and forwarded headers ignored."""
    import uvicorn

    limit = max(16, raise_descriptor_limit() - DESCRIPTORS_KEPT)
    max_connections = min(settings.max_connections or limit, limit)
    # Forwarded headers only from the configured proxies: uvicorn's default trusts 127.0.0.1, and
    # then any local caller could pose as many clients past the per-client stream limit.
    proxies = settings.trusted_proxies
    uvicorn.run(app, host=host, port=port, log_level=log_level, proxy_headers=bool(proxies),
                forwarded_allow_ips=",".join(proxies) if proxies else None,
                http=guarded_protocol(max_connections, settings.head_timeout_s),
                h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES)
