"""Serving the API with uvicorn, hardened against clients that hold connections without requests.

uvicorn's h11 protocol has no deadline for a request head: a connection that sends nothing, or its
headers a byte at a time, is kept as long as the client likes, and enough of them exhaust the
process's file descriptors (19,995 slow connections left `/healthz` unanswered). `GuardedH11Protocol`
adds three rules on top of it:

- **A deadline for each request head** (`HEAD_TIMEOUT_S`, from the connection's first byte or the
  previous response's end): a connection still waiting for its head is closed then.
- **A deadline for each request body** (`BODY_TIMEOUT_S`, from the end of its head): a body not
  complete by then gets 408 and the connection is closed (closed only, when the request was
  already answered, e.g. a 401 sent before its body was read). Without it, a client declaring
  `Content-Length: 60000` and sending a byte every 2 s held its connection for as long as it liked.
- **A cap on open connections** (`max_connections`, kept below the descriptor limit): past it, the
  connection that has waited longest for the client (for its head, or for the rest of a body while
  nothing is being sent back) is dropped to make room; only when every connection is busy with a
  response (e.g. an SSE stream) is the new one refused.

A request head is also bounded in size (`h11_max_incomplete_event_size`), and forwarded-for
headers are trusted only from the proxies the settings name: see `run_server`.
"""

from __future__ import annotations

import asyncio
import json
import resource
import time

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 10.0
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
    body_timeout_s: float = BODY_TIMEOUT_S
    max_connections: int = 1024

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_deadline: asyncio.TimerHandle | None = None
        self._body_deadline: asyncio.TimerHandle | None = None
        self._waiting_since = time.monotonic()
        if len(self.connections) > self.max_connections and not self._evict_idle():
            transport.abort()  # every connection is busy with a response: refuse this one
            return
        self._arm_head_deadline()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self._waiting_for_head():
            self._cancel_head_deadline()
        elif self._head_deadline is None and not self.transport.is_closing():
            # the rest of a body drained after its response (a 401 sent before the body was read):
            # the next head's clock starts now
            self._waiting_since = time.monotonic()
            self._arm_head_deadline()
        self._watch_body()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():  # keep-alive: the next head gets its own deadline
            self._waiting_since = time.monotonic()
            self._arm_head_deadline()
            self._watch_body()  # a pipelined request may have started its body

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_deadline()
        self._cancel_body_deadline()
        super().connection_lost(exc)

    def _waiting_for_head(self) -> bool:
        return self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete)

    def _waiting_for_client(self) -> bool:
        """Waiting on the client: for a request head, or for the rest of a body while no response is
        being sent (none started yet, or one already complete)."""
        if self._waiting_for_head():
            return True
        return self.conn.their_state is h11.SEND_BODY and (
            self.cycle is None or not self.cycle.response_started or self.cycle.response_complete)

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

    def _watch_body(self) -> None:
        """A body's deadline runs from the end of its head until its last byte."""
        if self.conn.their_state is h11.SEND_BODY:
            if self._body_deadline is None and not self.transport.is_closing():
                self._body_deadline = self.loop.call_later(self.body_timeout_s, self._body_timed_out)
        else:
            self._cancel_body_deadline()

    def _cancel_body_deadline(self) -> None:
        if getattr(self, "_body_deadline", None) is not None:
            self._body_deadline.cancel()
            self._body_deadline = None

    def _body_timed_out(self) -> None:
        self._body_deadline = None
        if self.conn.their_state is not h11.SEND_BODY or self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or cycle.response_started:
            self.transport.close()  # answered already (or answering): nothing to say, just stop waiting
            return
        # The app is still waiting for the body: it now reads a disconnect and its answer goes
        # nowhere (uvicorn drops sends after a disconnect); the 408 is the answer.
        cycle.disconnected = True
        cycle.message_event.set()
        detail = (f"the request body did not arrive within {self.body_timeout_s:g} s "
                  "(SCREENTIME_API_BODY_TIMEOUT_S)")
        body = json.dumps({"detail": detail}).encode()
        try:
            self.transport.write(self.conn.send(h11.Response(status_code=408, reason=b"Request Timeout", headers=[
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                (b"connection", b"close")])))
            self.transport.write(self.conn.send(h11.Data(data=body)))
            self.transport.write(self.conn.send(h11.EndOfMessage()))
        except h11.LocalProtocolError:
            self.transport.abort()
            return
        self.transport.close()

    def _evict_idle(self) -> bool:
        """Drop the connection that has waited longest for the client; False if none waits."""
        waiting = [c for c in self.connections
                   if c is not self and isinstance(c, GuardedH11Protocol) and c._waiting_for_client()
                   and not c.transport.is_closing()]
        if not waiting:
            return False
        min(waiting, key=lambda c: c._waiting_since).transport.abort()
        return True


def guarded_protocol(max_connections: int, head_timeout_s: float = HEAD_TIMEOUT_S,
                     body_timeout_s: float = BODY_TIMEOUT_S) -> type[GuardedH11Protocol]:
    return type("GuardedH11Protocol", (GuardedH11Protocol,),
                {"max_connections": max_connections, "head_timeout_s": head_timeout_s,
                 "body_timeout_s": body_timeout_s})


def run_server(app, settings, host: str, port: int, log_level: str = "info") -> None:
    """uvicorn with the guarded protocol (head and body deadlines, a connection cap), a bounded
    request head and forwarded headers ignored."""
    import uvicorn

    limit = max(16, raise_descriptor_limit() - DESCRIPTORS_KEPT)
    max_connections = min(settings.max_connections or limit, limit)
    # Forwarded headers only from the configured proxies: uvicorn's default trusts 127.0.0.1, and
    # then any local caller could pose as many clients past the per-client stream limit.
    proxies = settings.trusted_proxies
    uvicorn.run(app, host=host, port=port, log_level=log_level, proxy_headers=bool(proxies),
                forwarded_allow_ips=",".join(proxies) if proxies else None,
                http=guarded_protocol(max_connections, settings.head_timeout_s, settings.body_timeout_s),
                h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES)
