"""Real servers for tests (the progress API, `dagster dev`) on free loopback ports, and an SSE reader.

Each server runs as its own process group; it is stopped by its PID with the signal it shuts
down cleanly on, and its group is killed only if it has not gone after a grace period.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def stop(self, sig: int = signal.SIGTERM, grace_s: float = 30.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(grace_s)
            except subprocess.TimeoutExpired:
                pass
        try:  # children it left behind (dagster dev's webserver, daemon, code server)
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(5)


def start_server(args: list[str], url: str, ready_path: str, env: dict, log: Path, timeout_s: float = 90) -> Server:
    """Start `args` in its own process group and wait until GET url+ready_path answers 200."""
    handle = open(log, "wb")
    process = subprocess.Popen(args, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    handle.close()
    server = Server(url, process, log)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{args[0]} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url + ready_path, timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"{args[0]} did not answer on {url} within {timeout_s} s:\n{log.read_text()[-3000:]}")


def start_api(env: dict, log: Path) -> Server:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    return start_server([str(BIN / "screentime"), "api", "--port", str(port), "--quiet"], url, "/episodes", env, log)


def start_dagster_dev(env: dict, log: Path) -> Server:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [str(BIN / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    return start_server(args, url, "/server_info", env, log, timeout_s=120)


@dataclass
class Event:
    event: str
    id: str
    data: dict = field(default_factory=dict)


def read_events(response: httpx.Response, stop_after: int | None = None) -> tuple[list[Event], int]:
    """Parse an SSE body into events (and count heartbeat comments), up to `stop_after` events."""
    events: list[Event] = []
    comments = 0
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line.startswith(":"):
            comments += 1
        elif line == "":
            if "data" in fields:
                events.append(Event(fields.get("event", "message"), fields.get("id", ""), json.loads(fields["data"])))
                if stop_after is not None and len(events) >= stop_after:
                    break
            fields = {}
        else:
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
    return events, comments


def wait_for(predicate, timeout_s: float, interval_s: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
