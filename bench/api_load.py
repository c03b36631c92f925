"""Load test: the progress sidecar serving SSE clients and polling at a fixed rate while a real run
writes its progress.

Starts `screentime api` on a free loopback port and `screentime run` on a real clip looped (PyAV's
libx264, so the run outlasts the window), then, once the run has written its first record, for
--seconds: --clients SSE clients follow the episode (one process) while another process polls at
--rate requests per second, open loop (90% GET /episodes/{ep}/progress, 10% GET /episodes).
Polling latency is measured from the moment each request was due, so any client-side delay
counts against the API, not for it. Then everything is closed, /healthz must show no stream
left, and the run is stopped. Prints a table and writes the "Progress API under load" section
of bench/RESULTS.md. Bounded: it stops itself after --timeout seconds. Loopback only.

Usage: `.venv/bin/python bench/api_load.py [--clients 200] [--rate 200] [--seconds 60]`
(or `make bench-api`).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import cv2
import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench_pipeline import OUT, write_looped_h264, write_section  # noqa: E402  (bench/ is sys.path[0])
from sse_load import BIN, Client, cpu_seconds, peak_rss_mb, stream  # noqa: E402

from tests.live_servers import start_api, wait_for  # noqa: E402

EP = "bench-s01e01"
EPISODE_FOLDER = "data/artifacts/manifests/bench/s01/e01"


def history_lines(root: Path) -> int:
    """Records in the episode's run histories (one `<run_id>/progress.jsonl` per run)."""
    return sum(len(path.read_text().splitlines()) for path in (root / EPISODE_FOLDER).glob("*/progress.jsonl"))


def long_clip(source: Path, seconds: int) -> Path:
    """The clip looped to `seconds` at its own size, as H.264 (cached under bench/out)."""
    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / f"{source.stem}_loop{seconds}s.mp4"
    if target.exists():
        return target
    capture = cv2.VideoCapture(str(source))
    fps, frames = capture.get(cv2.CAP_PROP_FPS), []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return write_looped_h264(frames, fps, seconds, target)


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- the SSE clients (their own process) ---------------------------------------------------------

async def follow_for(http: httpx.AsyncClient, url: str, client: Client, started: float, errors: list) -> None:
    client.connected_at = time.time()
    last = None
    while True:
        try:
            last = await stream(http, url, client, started, last, None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # counted; the client reconnects as EventSource would
            errors.append(f"{type(exc).__name__}: {exc}")
        if client.terminal:
            return
        await asyncio.sleep(1.0)


async def sse_load(url: str, n: int, seconds: float) -> dict:
    clients, errors = [Client() for _ in range(n)], []
    limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=0)
    cpu = process_cpu()
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(seconds + 30, connect=30)) as http:
        started = time.monotonic()
        tasks = [asyncio.create_task(follow_for(http, url, c, started, errors)) for c in clients]
        await asyncio.sleep(seconds)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {"events": [len(c.ids) for c in clients], "lags": [lag for c in clients for lag in c.lags],
            "first": [c.first_event_s for c in clients if c.first_event_s is not None],
            "connects": sum(c.connects for c in clients), "in_order": sum(c.ids == sorted(set(c.ids)) for c in clients),
            "errors": errors, "cpu": process_cpu() - cpu}


def run_sse(url: str, n: int, seconds: float) -> dict:
    return asyncio.run(sse_load(url, n, seconds))


# --- the pollers (their own process) -------------------------------------------------------------

async def get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> int:
    """One GET on a kept-alive HTTP/1.1 connection; returns the status (the body is read and dropped)."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(int(v) for k, _, v in (line.partition(":") for line in lines[1:]) if k.lower() == "content-length")
    await reader.readexactly(length)
    return int(lines[0].split(" ", 2)[1])


async def poll_load(base: str, rate: float, seconds: float, connections: int = 32) -> dict:
    """Requests fall due at `rate` per second whatever happens (open loop) and wait in a queue for
    one of `connections` kept-alive connections, like the browsers of many users behind a proxy.
    (A plain asyncio client: httpx's pool burns a core on its own once requests queue up.)"""
    latencies: list[float] = []
    statuses: Counter = Counter()
    errors: list[str] = []
    paths = ["/episodes" if i % 10 == 9 else f"/episodes/{EP}/progress" for i in range(10)]
    host, port = base.removeprefix("http://").rsplit(":", 1)
    due_queue: asyncio.Queue = asyncio.Queue()
    cpu = process_cpu()

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while (item := await due_queue.get()) is not None:
                due, path = item
                try:
                    statuses[await get(reader, writer, path)] += 1
                    latencies.append(time.monotonic() - due)
                except (OSError, asyncio.IncompleteReadError, ValueError, StopIteration) as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, int(port))
        finally:
            writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(connections)]
    start = time.monotonic()
    for i in range(int(rate * seconds)):
        due = start + i / rate
        if (delay := due - time.monotonic()) > 0:
            await asyncio.sleep(delay)
        due_queue.put_nowait((due, paths[i % 10]))
    for _ in workers:
        due_queue.put_nowait(None)
    await asyncio.gather(*workers)
    return {"latencies": latencies, "statuses": dict(statuses), "errors": errors,
            "wall": time.monotonic() - start, "cpu": process_cpu() - cpu}


def run_polls(base: str, rate: float, seconds: float) -> dict:
    return asyncio.run(poll_load(base, rate, seconds))


# --- the bench ---------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200, help="concurrent SSE clients")
    parser.add_argument("--rate", type=float, default=200.0, help="polling requests per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the load window")
    parser.add_argument("--video", default=str(REPO / "tests" / "media" / "cap13_edit2.mp4"))
    parser.add_argument("--clip-s", type=int, default=300, help="the clip is looped to this length")
    parser.add_argument("--timeout", type=float, default=420.0, help="hard limit for the whole bench (s)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()

    def out_of_time(*_):
        raise TimeoutError(f"the bench ran past --timeout {args.timeout:.0f} s")

    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(int(args.timeout))
    clip = long_clip(Path(args.video), args.clip_s)
    with tempfile.TemporaryDirectory(prefix="api-load-") as tmp:
        root = Path(tmp)
        # Every client comes from 127.0.0.1, so the per-client stream limit is raised above --clients.
        env = {**os.environ, "SCREENTIME_DATA_DIR": str(root / "data"), "STORAGE_BACKEND": "local",
               "DAGSTER_HOME": str(root / "home"),
               "SCREENTIME_API_MAX_STREAMS_PER_CLIENT": str(args.clients + 56)}
        env.pop("SCREENTIME_API_TOKEN", None)
        api = start_api(env, root / "api.log")
        writer = None
        try:
            writer = subprocess.Popen(
                [str(BIN / "screentime"), "run", str(clip), "--ep-id", EP, "--quiet"], cwd=REPO, env=env,
                stdout=subprocess.DEVNULL, stderr=open(root / "run.log", "wb"), start_new_session=True)
            while httpx.get(f"{api.url}/episodes/{EP}/progress").status_code != 200:
                if writer.poll() is not None:
                    raise SystemExit(f"the run wrote no progress:\n{(root / 'run.log').read_text()[-2000:]}")
                time.sleep(0.2)
            load_before = os.getloadavg()[0]
            history_before = history_lines(root)
            before = httpx.get(f"{api.url}/healthz").json()
            cpu_before = cpu_seconds(api.process.pid)
            started = time.monotonic()
            with multiprocessing.get_context("spawn").Pool(2) as pool:
                sse = pool.apply_async(run_sse, (f"{api.url}/episodes/{EP}/events", args.clients, args.seconds))
                polls = pool.apply_async(run_polls, (api.url, args.rate, args.seconds))
                sse, polls = sse.get(args.timeout), polls.get(args.timeout)
            wall = time.monotonic() - started
            load = (load_before, os.getloadavg()[0])
            cpu = cpu_seconds(api.process.pid) - cpu_before
            after = wait_for(lambda: (h := httpx.get(f"{api.url}/healthz").json())["open_streams"] == 0 and h,
                             30, 0.2, "the API to close every stream")
            rss = peak_rss_mb(api.process.pid)
            run_alive = writer.poll() is None
            written = history_lines(root) - history_before
        finally:
            if writer is not None and writer.poll() is None:
                writer.send_signal(signal.SIGINT)
                try:
                    writer.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(writer.pid, signal.SIGKILL)
            api.stop()
    signal.alarm(0)

    report = summarise(args, clip, sse, polls, wall, cpu, rss, before, after, written, run_alive, load)
    print(report)
    if not args.no_write:
        write_section("Progress API under load: SSE clients and polling during a run (bench/api_load.py)", report)
    failed = sse["errors"] or polls["errors"] or set(polls["statuses"]) != {200} or after["open_streams"]
    return 1 if failed else 0


def pct(values: list[float], q: float) -> str:
    values = sorted(values)
    return f"{values[min(len(values) - 1, int(q * len(values)))] * 1000:.0f} ms" if values else "n/a"


def summarise(args, clip, sse, polls, wall, cpu, rss, before, after, written, run_alive, load) -> str:
    sent = sum(polls["statuses"].values()) + len(polls["errors"])
    events = sorted(sse["events"])
    rows = [
        ("load window", f"{args.seconds:.0f} s (measured {wall:.1f} s); the run was "
                        f"{'still writing at the end' if run_alive else 'finished before the end'}"),
        ("progress records the run wrote in the window", f"{written}"),
        ("SSE clients / connections made (reconnects after an error included)", f"{args.clients} / {sse['connects']}"),
        ("SSE errors", f"{len(sse['errors'])}"),
        ("SSE clients whose events came once each, in order", f"{sse['in_order']}"),
        ("SSE events per client: min / median", f"{events[0]} / {events[len(events) // 2]}"),
        ("SSE time to first event: p50 / p99", f"{pct(sse['first'], 0.5)} / {pct(sse['first'], 0.99)}"),
        ("SSE write-to-client latency: p50 / p99 / max",
         f"{pct(sse['lags'], 0.5)} / {pct(sse['lags'], 0.99)} / {pct(sse['lags'], 1)}"),
        ("polling requests sent (target rate) / achieved rate",
         f"{sent} ({args.rate:.0f}/s) / {sent / polls['wall']:.0f}/s"),
        ("polling responses by status / errors", f"{polls['statuses']} / {len(polls['errors'])}"),
        ("polling latency from when due: p50 / p90 / p99 / max",
         " / ".join(pct(polls["latencies"], q) for q in (0.5, 0.9, 0.99, 1))),
        ("API process CPU during the window", f"{cpu:.1f} s ({100 * cpu / wall:.0f}% of one core)"),
        ("API process peak RSS", f"{rss:.0f} MiB"),
        ("load generators' CPU (SSE process, polling process)", f"{sse['cpu']:.1f} s, {polls['cpu']:.1f} s"),
        ("machine load average (1 min) at the start / end of the window", f"{load[0]:.1f} / {load[1]:.1f}"),
        ("/healthz before / after the clients left (open streams, followed runs, tasks)",
         f"{before['open_streams']}, {before['followed_runs']}, {before['tasks']} / "
         f"{after['open_streams']}, {after['followed_runs']}, {after['tasks']}"),
    ]
    lines = [
        f"`screentime api` (uvicorn, one worker) serving {args.clients} SSE clients on one episode plus "
        f"{args.rate:.0f} req/s of polling (90% `/episodes/{{ep}}/progress`, 10% `/episodes`, open loop) for "
        f"{args.seconds:.0f} s, while `screentime run` analyses {clip.name} (cap13 looped, 400x300, every frame) "
        f"and writes its progress. All on this machine: {platform.machine()}, {os.cpu_count()} cores, no GPU, "
        f"Python {platform.python_version()}; the run, the API and both load processes share the cores. "
        "Every client comes from 127.0.0.1, so the bench raises SCREENTIME_API_MAX_STREAMS_PER_CLIENT above "
        "the client count. SSE latency runs from the record's `updated_at` to its arrival (it includes the "
        "API's 0.25 s storage poll); polling latency from the moment the request was due. The one task "
        "more after the clients left is sse-starlette's shutdown watcher, started with the first stream.",
        "",
        "| measure | value |",
        "|---|---|",
        *[f"| {name} | {value} |" for name, value in rows],
    ]
    errors = sse["errors"] + polls["errors"]
    if errors:
        lines += ["", "Errors (first 5):", *[f"- {e}" for e in errors[:5]]]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
