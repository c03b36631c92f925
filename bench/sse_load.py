"""Load test: N concurrent SSE clients follow one episode while a real run writes its progress.

Starts `screentime api` on a free loopback port and `screentime run` on a real clip (both in a
temporary data dir and DAGSTER_HOME), then opens N event streams on the episode once its first
record exists. A share of the clients drops after a few events and resumes with Last-Event-ID.
Every client must end with the `done` event, with ids 1..N exactly once and in order (after the
resume too). Prints a table and writes the "Live progress" section of bench/RESULTS.md. Bounded:
everything stops after --timeout seconds. Loopback only.

Usage: `.venv/bin/python bench/sse_load.py [--clients 200] [--resume 50]` (or `make bench-sse`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench_pipeline import write_section  # noqa: E402  (bench/ is sys.path[0])

from tests.live_servers import start_api  # noqa: E402

EP = "bench-s01e01"
BIN = Path(sys.executable).parent


@dataclass
class Client:
    ids: list[int] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)  # seconds from a record's write to its arrival
    first_event_s: float | None = None
    connected_at: float = 0.0
    terminal: str | None = None
    connects: int = 0
    error: str | None = None


async def stream(http: httpx.AsyncClient, url: str, client: Client, started: float,
                 after: str | None, stop_after: int | None) -> str | None:
    """Read one connection; returns the last event id seen."""
    headers = {"Last-Event-ID": after} if after else {}
    client.connects += 1
    last, fields = after, {}
    async with http.stream("GET", url, headers=headers) as response:
        if response.status_code == 204:
            return last
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith(":"):
                continue
            if line:
                name, _, value = line.partition(":")
                fields[name] = value.lstrip(" ")
                continue
            if "data" not in fields:
                continue
            now = time.time()
            record = json.loads(fields["data"])
            client.ids.append(int(fields["id"]))
            written = datetime.fromisoformat(record["updated_at"]).timestamp()
            if written >= client.connected_at:  # live, not part of the backlog sent on connecting
                client.lags.append(now - written)
            if client.first_event_s is None:
                client.first_event_s = time.monotonic() - started
            last = fields["id"]
            if fields.get("event") in ("done", "error"):
                client.terminal = fields["event"]
                return last
            fields = {}
            if stop_after is not None and len(client.ids) >= stop_after:
                return last
    return last


async def follow(http: httpx.AsyncClient, url: str, client: Client, resume: bool) -> None:
    started, client.connected_at = time.monotonic(), time.time()
    try:
        last = await stream(http, url, client, started, None, 3 if resume else None)
        if resume and client.terminal is None:
            await stream(http, url, client, started, last, None)
    except Exception as exc:  # counted, not raised: the figure is how many clients fail
        client.error = f"{type(exc).__name__}: {exc}"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def load(api_url: str, n: int, resume: int, timeout_s: float) -> tuple[list[Client], float]:
    url = f"{api_url}/episodes/{EP}/events"
    clients = [Client() for _ in range(n)]
    limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(timeout_s, connect=30)) as http:
        started = time.monotonic()
        await asyncio.wait_for(
            asyncio.gather(*(follow(http, url, c, i < resume) for i, c in enumerate(clients))), timeout_s)
    return clients, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--resume", type=int, default=50, help="clients that drop after 3 events and resume")
    parser.add_argument("--video", default=str(REPO / "tests" / "media" / "cap13_edit2.mp4"))
    parser.add_argument("--timeout", type=float, default=300.0, help="hard limit for the whole test (s)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sse-load-") as tmp:
        root = Path(tmp)
        # Every client comes from 127.0.0.1: the per-client stream limit goes above the client count.
        env = {**os.environ, "SCREENTIME_DATA_DIR": str(root / "data"), "STORAGE_BACKEND": "local",
               "DAGSTER_HOME": str(root / "home"), "SCREENTIME_API_MAX_STREAMS_PER_CLIENT": str(args.clients + 10)}
        api = start_api(env, root / "api.log")
        writer = None
        try:
            writer = subprocess.Popen(
                [str(BIN / "screentime"), "run", args.video, "--ep-id", EP, "--quiet"], cwd=REPO, env=env,
                stdout=subprocess.DEVNULL, stderr=open(root / "run.log", "wb"), start_new_session=True)
            deadline = time.monotonic() + args.timeout
            while httpx.get(f"{api.url}/episodes/{EP}/progress").status_code != 200:
                if writer.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the run wrote no progress:\n{(root / 'run.log').read_text()[-2000:]}")
                time.sleep(0.1)
            cpu_before = cpu_seconds(api.process.pid)
            clients, wall = asyncio.run(load(api.url, args.clients, args.resume, args.timeout))
            cpu = cpu_seconds(api.process.pid) - cpu_before
            rss = peak_rss_mb(api.process.pid)
            writer.wait(args.timeout)
            run_history = next((root / "data/artifacts/manifests/bench/s01/e01").glob("*/progress.jsonl"))
            history = [json.loads(line)["seq"] for line in run_history.read_text().splitlines()]
        finally:
            if writer is not None and writer.poll() is None:
                writer.send_signal(signal.SIGTERM)
                writer.wait(30)
            api.stop()

    report = summarise(args, clients, history, wall, cpu, rss)
    print(report)
    if not args.no_write:
        write_section("Live progress: concurrent SSE clients (bench/sse_load.py)", report)
    failed = [c for c in clients if c.error or c.terminal != "done" or c.ids != history]
    return 1 if failed else 0


def summarise(args, clients: list[Client], history: list[int], wall: float, cpu: float, rss: float) -> str:
    complete = [c for c in clients if c.terminal == "done" and c.ids == history]
    errors = [c.error for c in clients if c.error]
    lags = sorted(lag for c in clients for lag in c.lags)
    firsts = sorted(c.first_event_s for c in clients if c.first_event_s is not None)

    def pct(values: list[float], q: float) -> str:
        return f"{values[min(len(values) - 1, int(q * len(values)))] * 1000:.0f} ms" if values else "n/a"

    rows = [
        ("clients (of them resuming with Last-Event-ID)", f"{len(clients)} ({args.resume})"),
        ("clients that got every event 1..N once, in order, and `done`", f"{len(complete)}"),
        ("clients with an error / without the terminal event",
         f"{len(errors)} / {sum(1 for c in clients if c.terminal is None)}"),
        ("events per client (the run's records)", f"{len(history)}"),
        ("events delivered in all", f"{sum(len(c.ids) for c in clients)}"),
        ("time to first event: median / p95 / max", f"{pct(firsts, 0.5)} / {pct(firsts, 0.95)} / {pct(firsts, 1)}"),
        ("write-to-client latency (live events): median / p95 / max",
         f"{pct(lags, 0.5)} / {pct(lags, 0.95)} / {pct(lags, 1)}"),
        ("wall time of the streams", f"{wall:.1f} s"),
        ("API process CPU while streaming", f"{cpu:.1f} s ({100 * cpu / wall:.0f}% of one core)"),
        ("API process peak RSS", f"{rss:.0f} MiB"),
    ]
    lines = [
        f"One episode ({Path(args.video).name}, a real `screentime run` writing its progress) followed by "
        f"{len(clients)} concurrent SSE clients through one `screentime api` (uvicorn, one worker), on this "
        f"machine: {platform.machine()}, {os.cpu_count()} cores, no GPU, {platform.python_version()}. "
        "The run, the API and the clients share the cores. Latency is from the record's `updated_at` "
        "(written by the run) to its arrival at the client, so it includes the API's 0.25 s poll of storage.",
        "",
        "| measure | value |",
        "|---|---|",
        *[f"| {name} | {value} |" for name, value in rows],
    ]
    if errors:
        lines += ["", "Errors (first 5):", *[f"- {e}" for e in errors[:5]]]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
