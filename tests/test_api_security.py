"""The progress sidecar facing bad and hostile clients, on a real `screentime api` (uvicorn) on
loopback: bad input refused before anything is touched, no way out of the artifact root, the
token (checked before a body is read), CORS, bodies bounded in size and in time, and event streams
bounded per client and reaped when clients go.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from screentime.contracts.errors import StorageError
from screentime.contracts.progress import ProgressRecord, utc_now
from screentime.progress.store import ProgressStore
from screentime.progress_api.settings import ApiSettings
from screentime.storage import LocalStorage, open_storage
from tests.conftest import artifact_files
from tests.live_servers import free_port, start_api, wait_for
from tests.s3_fixtures import TEST_BUCKET

SECRET = "outside-the-artifact-root"
STREAM_LIMIT = 8
# Ids a client could try to climb out of the artifact root with, or to upset the parser with.
# Raw paths (http.client sends them as written: no dot-segment clean-up, no re-encoding).
HOSTILE_ID_PATHS = [
    "..", "%2e%2e", "..%2F..%2F..%2Foutside", "..%2f..%2fsecret-s01e01", "a%2Fb-s01e01",
    "%2Fetc%2Fpasswd", "a%5C..%5Cb-s01e01", "a%00b-s01e01", "caf%C3%A9-s01e01", "%F0%9F%93%BA-s01e01",
    "The-Office-s01e01", "show-s1e1", "show-s001e01", "x" * 10240, "",
]


@pytest.fixture(scope="module")
def dagster_port():
    """A listening socket where Dagster would be. It never answers; a test asserts that no bad
    request made the API connect to it (no partition added, no run launched)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.setblocking(False)
        yield listener


@pytest.fixture(scope="module")
def api(tmp_path_factory, dagster_port):
    root = tmp_path_factory.mktemp("secure")
    (root / "videos").mkdir()
    outside = root / "outside" / "s01" / "e01"  # where `../../..` from the manifests would land
    outside.mkdir(parents=True)
    (outside / "progress.json").write_text(json.dumps({"ep_id": SECRET, "run_id": SECRET, "phase": SECRET}))
    env = {**os.environ, "SCREENTIME_DATA_DIR": str(root / "data"), "STORAGE_BACKEND": "local",
           "SCREENTIME_VIDEOS_DIR": str(root / "videos"),
           "SCREENTIME_DAGSTER_URL": f"http://127.0.0.1:{dagster_port.getsockname()[1]}",
           "SCREENTIME_API_POLL_S": "0.1", "SCREENTIME_API_HEARTBEAT_S": "0.5",
           "SCREENTIME_API_MAX_STREAMS_PER_CLIENT": str(STREAM_LIMIT)}
    for name in ("SCREENTIME_API_TOKEN", "SCREENTIME_API_CORS_ORIGINS", "SCREENTIME_API_MAX_BODY_BYTES"):
        env.pop(name, None)
    server = start_api(env, root / "api.log")
    server.root, server.data_dir = root, root / "data"
    server.port = int(server.url.rsplit(":", 1)[1])
    yield server
    server.stop()


def raw_get(api, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    """GET `path` exactly as written (no client-side normalisation)."""
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def no_connection_to(listener: socket.socket) -> bool:
    try:
        listener.accept()[0].close()
    except BlockingIOError:
        return True
    return False


# --- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("ep_path", HOSTILE_ID_PATHS, ids=lambda p: p[:24] or "empty")
def test_hostile_episode_ids_are_refused_with_the_parsers_message_and_read_nothing(api, ep_path):
    for route in ("progress", "events"):
        status, headers, body = raw_get(api, f"/episodes/{ep_path}/{route}")
        assert status == 422, (ep_path, route, status, body[:200])
        detail = json.loads(body)["detail"]
        assert "episode id" in detail and len(detail) < 300  # one line, never the 10 kB echoed back
        assert SECRET.encode() not in body


def test_no_id_reaches_outside_the_prefix_on_s3(s3_env, s3_client, tmp_path):
    """On S3 a key is any string; what a server does with `..` in one is its own affair (SeaweedFS
    refuses it, others keep it literally or resolve it), so the parser and `check_key` must stand
    between an id and a neighbour's objects. A planted object outside our prefix is never served."""
    planted = "someone-else/artifacts/manifests/outside/s01/e01/progress.json"
    s3_client.put_object(Bucket=TEST_BUCKET, Key=planted, Body=json.dumps({"phase": SECRET}).encode())
    env = {**os.environ, "SCREENTIME_DAGSTER_URL": f"http://127.0.0.1:{free_port()}",
           "SCREENTIME_DATA_DIR": str(tmp_path / "not-used")}  # the S3 settings come from s3_env
    api = start_api(env, tmp_path / "api.log")
    api.port = int(api.url.rsplit(":", 1)[1])
    climb = "..%2F..%2F..%2F..%2F..%2Fsomeone-else%2Fartifacts%2Fmanifests%2Foutside-s01e01"
    try:
        for ep_path in [climb, *HOSTILE_ID_PATHS]:
            for route in ("progress", "events"):
                status, _, body = raw_get(api, f"/episodes/{ep_path}/{route}")
                assert status == 422 and SECRET.encode() not in body, (ep_path, route, status)
        assert httpx.get(f"{api.url}/episodes", timeout=30).json() == {"episodes": []}
    finally:
        api.stop()
    with pytest.raises(StorageError, match="invalid storage key"):
        open_storage(s3_env).get_bytes(f"../{planted}")


def test_run_id_and_last_event_id_are_validated_too(api):
    for run_id in ("..%2F..%2Foutside", "a%2Fb", "%00"):
        status, _, body = raw_get(api, f"/episodes/show-s01e01/events?run_id={run_id}")
        assert status == 422 and b"invalid run id" in body
    for event_id in ("../1", "\u00b2", "9" * 5000):  # '²' passes str.isdigit; 5000 digits overflow int()
        status, _, body = raw_get(api, "/episodes/show-s01e01/events", {"Last-Event-ID": event_id})
        assert status == 422 and b"Last-Event-ID" in body, (event_id[:10], status)


def bad_videos(root: Path, truncated: Path) -> dict[str, tuple[str, str]]:
    """name -> (video as posted, what the message must say)."""
    empty, text = root / "empty.mp4", root / "notes.mp4"
    empty.write_bytes(b"")
    text.write_text("this is not a video\n" * 50)
    return {
        "missing": (str(root / "missing.mp4"), "video not found"),
        "empty": (str(empty), "video file is empty"),
        "text": (str(text), "not a readable video"),
        "truncated": (str(truncated), "not a readable video"),
        "folder": (str(root), "not a file"),
        "device file": ("/dev/zero", "not a file"),
        "none given, none in the videos root": ("", "no video given for"),
    }


def test_bad_launches_get_one_clear_422_and_nothing_is_written_or_launched(api, dagster_port, truncated_video,
                                                                          carphone):
    def post(body: dict) -> httpx.Response:
        return httpx.post(f"{api.url}/jobs/detect_track", json=body, timeout=30)

    video = str(carphone)
    cases = {
        "fps < 0": ({"fps": -1}, "fps: Input should be greater than or equal to 0"),
        "jpeg_quality 0": ({"jpeg_quality": 0}, "jpeg_quality: Input should be greater than or equal to 1"),
        "jpeg_quality 101": ({"jpeg_quality": 101}, "jpeg_quality: Input should be less than or equal to 100"),
        "unknown device": ({"device": "tpu"}, "device: unknown device 'tpu'"),
        "unknown option": ({"turbo": True}, "turbo: Extra inputs are not permitted"),
        "text fps": ({"fps": "fast"}, "fps: Input should be a valid number"),
        "yolo without weights": ({"detector": "yolo"}, "detector 'yolo' needs detector_weights"),
        "yolo weights missing": ({"detector": "yolo", "detector_weights": "/no/face.pt"}, "detector_weights not found"),
        "traversal id": ({"ep_id": "../../etc-s01e01"}, "ep_id: invalid episode id"),
        "unicode id": ({"ep_id": "café-s01e01"}, "ep_id: invalid episode id"),
        "10 kB id": ({"ep_id": "x" * 10240}, "ep_id: episode id is 10240 characters long; the limit is 96"),
    }
    for name, (video_given, message) in bad_videos(api.root, truncated_video).items():
        cases[f"video {name}"] = ({"video": video_given}, message)
    for name, (fields, message) in cases.items():
        response = post({"ep_id": "show-s01e01", "video": video, **fields})
        assert response.status_code == 422, (name, response.text)
        detail = response.json()["detail"]
        assert message in detail, (name, detail)
        assert "\n" not in detail and len(detail) < 400, (name, detail)
    for body, message in ((b"{not json", "request body: not valid JSON"), (b"", "request body: Field required")):
        response = httpx.post(f"{api.url}/jobs/detect_track", content=body, timeout=30,
                              headers={"Content-Type": "application/json"})
        assert response.status_code == 422 and message in response.json()["detail"]

    assert artifact_files(api.root / "outside") == ["s01/e01/progress.json"]
    assert not api.data_dir.exists() or artifact_files(api.data_dir) == []
    assert no_connection_to(dagster_port), "a rejected launch reached Dagster"

    # The observer works: a good launch does reach "Dagster" (which hangs up: 502).
    box: dict = {}
    thread = threading.Thread(target=lambda: box.update(r=post({"ep_id": "show-s01e01", "video": video})))
    thread.start()
    dagster_port.setblocking(True)
    dagster_port.settimeout(30)
    try:
        dagster_port.accept()[0].close()
    finally:
        dagster_port.setblocking(False)
    thread.join(60)
    assert box["r"].status_code == 502 and "Dagster" in box["r"].json()["detail"]


# --- token, CORS, body size --------------------------------------------------------------------

@pytest.fixture(scope="module")
def guarded_api(tmp_path_factory):
    """The production settings: a token and one allowed origin."""
    root = tmp_path_factory.mktemp("guarded")
    env = {**os.environ, "SCREENTIME_DATA_DIR": str(root / "data"), "STORAGE_BACKEND": "local",
           "SCREENTIME_DAGSTER_URL": f"http://127.0.0.1:{free_port()}", "SCREENTIME_API_TOKEN": "s3cret-token",
           "SCREENTIME_API_CORS_ORIGINS": "https://ops.example.com"}
    server = start_api(env, root / "api.log")
    yield server
    server.stop()


def preflight(url: str, origin: str) -> httpx.Response:
    return httpx.options(f"{url}/jobs/detect_track", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})


def test_cors_is_off_by_default_and_an_allow_list_when_set(api, guarded_api):
    for url in (api.url, f"{guarded_api.url}"):
        evil = preflight(url, "https://evil.example")
        assert "access-control-allow-origin" not in evil.headers
        got = httpx.get(f"{url}/episodes", headers={"Origin": "https://evil.example"})
        assert got.status_code == 200 and "access-control-allow-origin" not in got.headers
    allowed = preflight(guarded_api.url, "https://ops.example.com")
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://ops.example.com"
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-origin" not in preflight(api.url, "https://ops.example.com").headers


def test_launch_needs_the_token_before_anything_is_checked(guarded_api, carphone):
    url = f"{guarded_api.url}/jobs/detect_track"
    probe = {"ep_id": "show-s01e01", "video": "/etc/passwd"}  # a stranger may not probe files
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic czNjcmV0LXRva2Vu"},
                    {"Authorization": "Bearer s3cret-token-and-more"}):
        response = httpx.post(url, json=probe, headers=headers)
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
        assert response.json() == {"detail": "missing or wrong bearer token"}
    right = {"Authorization": "Bearer s3cret-token"}
    assert httpx.post(url, json=probe, headers=right).status_code == 422  # past the token
    reached = httpx.post(url, json={"ep_id": "show-s01e01", "video": str(carphone)}, headers=right)
    assert reached.status_code == 502  # past the checks, on to Dagster (not running here)
    assert httpx.get(f"{guarded_api.url}/episodes").status_code == 200  # reading stays open


def test_request_bodies_are_bounded(api):
    url = f"{api.url}/jobs/detect_track"
    big = json.dumps({"ep_id": "show-s01e01", "video": "v" * 70_000}).encode()
    declared = httpx.post(url, content=big, headers={"Content-Type": "application/json"})
    assert declared.status_code == 413 and "Too Large" in declared.text

    def chunks():  # no Content-Length: counted as it arrives
        for start in range(0, len(big), 8192):
            yield big[start:start + 8192]

    chunked = httpx.post(url, content=chunks(), headers={"Content-Type": "application/json"})
    assert chunked.status_code == 413
    under = json.dumps({"ep_id": "show-s01e01", "video": "v" * 60_000}).encode()
    assert httpx.post(url, content=under, headers={"Content-Type": "application/json"}).status_code == 422


def test_settings_refuse_cors_wildcards_and_odd_limits():
    for origins in (["*"], ["https://ops.example.com/"], ["ops.example.com"], ["https://a.example/path"]):
        with pytest.raises(ValueError, match="is not an origin"):
            ApiSettings(cors_origins=origins)
    with pytest.raises(ValueError):
        ApiSettings(max_streams_per_client=0)
    with pytest.raises(ValueError):
        ApiSettings(max_body_bytes=10)
    with pytest.raises(ValueError, match="not an IP address or network"):
        ApiSettings(trusted_proxies=["*"])
    with pytest.raises(ValueError):
        ApiSettings(head_timeout_s=0)
    with pytest.raises(ValueError):
        ApiSettings(body_timeout_s=0)
    assert ApiSettings(trusted_proxies="10.0.0.5, 10.1.0.0/16").trusted_proxies == ["10.0.0.5", "10.1.0.0/16"]


# --- event streams: bounded per client, reaped when the client goes ----------------------------

def open_stream(api, path: str, source: str = "127.0.0.1", headers: str = "") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", api.port), timeout=10, source_address=(source, 0))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n{headers}\r\n".encode())
    return sock


def read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def status_of(head: bytes) -> int:
    return int(head.split(b" ", 2)[1])


def health(api) -> dict:
    return httpx.get(f"{api.url}/healthz", timeout=10).json()


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def idle(api) -> dict:
    return wait_for(lambda: (h := health(api))["open_streams"] == 0 and h["followed_runs"] == 0 and h,
                    15, 0.1, "the API to hold no stream")


def seed_running_run(api, ep_id: str) -> None:
    """A run that has written two records and not ended: a stream sends them, then waits."""
    store = ProgressStore(LocalStorage(api.data_dir))
    for seq in (1, 2):
        store.write(ProgressRecord(ep_id=ep_id, run_id="running-run", phase="detecting", seq=seq,
                                   frames_done=seq * 25, frames_total=100, ratio=seq / 4, updated_at=utc_now()))


def test_streams_are_bounded_per_client_address(api):
    path = "/episodes/limit-s01e01/events?run_id=not-started"
    held = []
    try:
        for _ in range(STREAM_LIMIT):
            held.append(open_stream(api, path))
            assert status_of(read_until(held[-1], b"\r\n\r\n")) == 200
        refused = open_stream(api, path)
        answer = read_until(refused, b"}")
        refused.close()
        assert status_of(answer) == 429 and b"Retry-After: 5" in answer.replace(b"retry-after", b"Retry-After")
        assert f"already has {STREAM_LIMIT} open event streams".encode() in answer
        other = open_stream(api, path, source="127.0.0.2")  # another client still gets its own
        assert status_of(read_until(other, b"\r\n\r\n")) == 200
        other.close()
        assert health(api)["open_streams"] >= STREAM_LIMIT
        held.pop().close()
        wait_for(lambda: health(api)["open_streams"] == STREAM_LIMIT - 1, 10, 0.05, "the closed stream's slot")
        held.append(open_stream(api, path))
        assert status_of(read_until(held[-1], b"\r\n\r\n")) == 200
    finally:
        for sock in held:
            sock.close()
    idle(api)


def test_a_thousand_connect_disconnect_cycles_leak_no_stream_task_or_socket(api):
    seed_running_run(api, "busy-s01e01")
    waiting = "/episodes/idle-s01e01/events?run_id=not-started"  # the hub starts a reader for it
    running = "/episodes/busy-s01e01/events"  # sends the two records at once, then waits
    warm_up = open_stream(api, running)  # the first stream starts sse-starlette's shutdown watcher
    read_until(warm_up, b"event: progress")
    warm_up.close()
    before = idle(api)
    fds_before = open_fds(api.process.pid)

    statuses: dict[int, int] = {}
    started = time.monotonic()
    for cycle in range(1000):
        kind = cycle % 4
        sock = open_stream(api, running if kind == 3 else waiting)
        try:
            if kind == 0:
                continue  # gone before the response started
            head = read_until(sock, b"\r\n\r\n" if kind in (1, 2) else b"event: progress")
            statuses[status_of(head)] = statuses.get(status_of(head), 0) + 1
            if kind == 2:  # abortive close (RST), as a crashed client or a dropped network does
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        finally:
            sock.close()
        if cycle % 50 == 49:  # the server notices disconnects as they come, not all at the end
            wait_for(lambda: health(api)["open_streams"] < STREAM_LIMIT, 10, 0.01, "streams to be reaped")
    elapsed = time.monotonic() - started

    after = idle(api)
    assert statuses == {200: 750}, statuses
    assert after["tasks"] <= before["tasks"], (before, after)
    assert open_fds(api.process.pid) <= fds_before + 2
    print(f"1000 cycles in {elapsed:.1f} s; tasks {before['tasks']} -> {after['tasks']}")


def test_forwarded_headers_do_not_make_a_loopback_caller_many_clients(api):
    path = "/episodes/forward-s01e01/events?run_id=not-started"
    held = []
    try:
        for n in range(STREAM_LIMIT):
            held.append(open_stream(api, path, headers=f"X-Forwarded-For: 10.0.0.{n + 1}\r\n"
                                    f"Forwarded: for=10.0.0.{n + 1}\r\n"))
            assert status_of(read_until(held[-1], b"\r\n\r\n")) == 200
        posing = open_stream(api, path, headers="X-Forwarded-For: 10.9.9.9\r\nX-Real-IP: 10.9.9.9\r\n")
        answer = read_until(posing, b"}")
        posing.close()
        assert status_of(answer) == 429 and b"127.0.0.1 already has" in answer
    finally:
        for sock in held:
            sock.close()
    idle(api)


def test_request_heads_are_bounded_and_the_api_stays_up(api):
    before = psutil_rss(api.process.pid)
    socks = []
    for _ in range(4):  # huge, unfinished request heads, as a slow attacker sends them
        sock = socket.create_connection(("127.0.0.1", api.port), timeout=10)
        sock.sendall(b"GET /episodes HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
        try:
            for _ in range(64):  # up to 4 MiB each, unless the server answers and closes first
                sock.sendall(b"a" * 65536)
        except OSError:
            pass  # the server closed the connection: the bound at work
        socks.append(sock)
    answers = []
    for sock in socks:
        try:
            answers.append(read_until(sock, b"\r\n\r\n"))
        except OSError:
            answers.append(b"")
        sock.close()
    assert all(a == b"" or status_of(a) in (400, 431) for a in answers), answers
    assert psutil_rss(api.process.pid) - before < 64 * 1024 * 1024  # no 4 x 4 MiB kept, let alone more
    assert httpx.get(f"{api.url}/healthz", timeout=10).status_code == 200


def psutil_rss(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def test_an_unreadable_progress_record_hides_no_other_episode(api):
    seed_running_run(api, "fine-s01e01")
    broken = api.data_dir / "artifacts/manifests/broken/s01/e01/progress.json"
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_text('{"ep_id": "broken-s01e01", "phase": "det')  # torn by hand (the store never tears it)
    listed = httpx.get(f"{api.url}/episodes", timeout=10)
    assert listed.status_code == 200 and "fine-s01e01" in {e["ep_id"] for e in listed.json()["episodes"]}
    one = httpx.get(f"{api.url}/episodes/broken-s01e01/progress", timeout=10)
    assert one.status_code == 503 and "cannot be read" in one.json()["detail"]


def api_with(tmp_path_factory, name: str, **settings: str):
    root = tmp_path_factory.mktemp(name)
    env = {**os.environ, "SCREENTIME_DATA_DIR": str(root / "data"), "STORAGE_BACKEND": "local",
           "SCREENTIME_DAGSTER_URL": f"http://127.0.0.1:{free_port()}", **settings}
    server = start_api(env, root / "api.log")
    server.port = int(server.url.rsplit(":", 1)[1])
    return server


@pytest.fixture(scope="module")
def tight_api(tmp_path_factory):
    """An API with a 1 s request-head deadline, behind a proxy on 127.0.0.1, 2 streams per client."""
    server = api_with(tmp_path_factory, "tight", SCREENTIME_API_HEAD_TIMEOUT_S="1",
                      SCREENTIME_API_TRUSTED_PROXIES="127.0.0.1", SCREENTIME_API_MAX_STREAMS_PER_CLIENT="2",
                      SCREENTIME_API_HEARTBEAT_S="0.5")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def capped_api(tmp_path_factory):
    """An API with room for 40 connections (and a head deadline far beyond the test)."""
    server = api_with(tmp_path_factory, "capped", SCREENTIME_API_HEAD_TIMEOUT_S="60",
                      SCREENTIME_API_MAX_CONNECTIONS="40")
    yield server
    server.stop()


def closed_by_server(sock: socket.socket, within_s: float) -> bool:
    sock.settimeout(within_s)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_a_connection_that_is_slow_to_send_its_head_is_closed(tight_api):
    silent = socket.create_connection(("127.0.0.1", tight_api.port), timeout=10)
    trickle = socket.create_connection(("127.0.0.1", tight_api.port), timeout=10)
    started = time.monotonic()
    for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\n":  # a byte every 0.1 s: never done in time
        try:
            trickle.sendall(bytes([byte]))
        except OSError:
            break
        time.sleep(0.1)
    assert closed_by_server(trickle, 5) and time.monotonic() - started < 5
    assert closed_by_server(silent, 5)
    # A keep-alive connection gets a fresh deadline for its next request, and a client that sends
    # its head in time is answered.
    with httpx.Client(base_url=tight_api.url) as client:
        assert client.get("/healthz").status_code == 200
        time.sleep(0.3)
        assert client.get("/healthz").status_code == 200
    silent.close()
    trickle.close()


def test_idle_connections_past_the_cap_make_room_and_the_api_answers(capped_api):
    before = open_fds(capped_api.process.pid)
    idle = [socket.create_connection(("127.0.0.1", capped_api.port), timeout=10) for _ in range(120)]
    try:  # no request head from any of them: past 40, the longest-waiting one is dropped for each new one
        wait_for(lambda: open_fds(capped_api.process.pid) <= before + 40, 10, 0.1, "idle connections to be dropped")
        for _ in range(5):
            assert httpx.get(f"{capped_api.url}/healthz", timeout=5).status_code == 200
        assert sum(closed_by_server(sock, 0.05) for sock in idle) >= 120 - 40
    finally:
        for sock in idle:
            sock.close()


def test_forwarded_for_names_the_client_only_behind_a_configured_proxy(tight_api):
    path = "/episodes/forward-s01e01/events?run_id=not-started"
    held = []
    try:
        for n in (1, 2, 3):  # three clients behind the proxy: each has its own quota
            held.append(open_stream(tight_api, path, headers=f"X-Forwarded-For: 10.0.0.{n}\r\n"))
            assert status_of(read_until(held[-1], b"\r\n\r\n")) == 200
        held.append(open_stream(tight_api, path, headers="X-Forwarded-For: 10.0.0.1\r\n"))
        assert status_of(read_until(held[-1], b"\r\n\r\n")) == 200  # its second stream: within its 2
        held.append(open_stream(tight_api, path, headers="X-Forwarded-For: 10.0.0.1\r\n"))
        answer = read_until(held[-1], b"}")
        assert status_of(answer) == 429 and b"10.0.0.1 already has" in answer
    finally:
        for sock in held:
            sock.close()


def test_bodies_json_cannot_hold_get_the_documented_422(api):
    for body in ('{"ep_id": "a-s01e01", "fps": ' + "9" * 5000 + "}", '{"ep_id": ' + "[" * 10000 + "]" * 10000 + "}"):
        response = httpx.post(f"{api.url}/jobs/detect_track", content=body,
                              headers={"Content-Type": "application/json"}, timeout=30)
        assert response.status_code == 422, response.text
        assert response.json()["errors"] == [{"loc": ["body"], "msg": response.json()["detail"].split(": ", 1)[1]}]


def test_head_is_answered_like_get_without_a_body(api):
    for path in ("/healthz", "/episodes", "/", "/static/app.js"):
        get, head = httpx.get(f"{api.url}{path}"), httpx.head(f"{api.url}{path}")
        assert head.status_code == get.status_code == 200 and head.content == b"", path
        assert head.headers["content-type"] == get.headers["content-type"]
    assert httpx.head(f"{api.url}/episodes/a-s01e01/events").status_code == 405  # no head without a stream


# --- slow request bodies: the token first, a deadline for the rest ---------------------------------

BODY_TIMEOUT_S = 3.0


@pytest.fixture(scope="module")
def slow_body_api(tmp_path_factory):
    """A token, a 3 s body deadline, room for 20 connections (and a head deadline far beyond the test)."""
    server = api_with(tmp_path_factory, "slowbody", SCREENTIME_API_TOKEN="s3cret-token",
                      SCREENTIME_API_BODY_TIMEOUT_S=str(BODY_TIMEOUT_S), SCREENTIME_API_MAX_CONNECTIONS="20",
                      SCREENTIME_API_HEAD_TIMEOUT_S="60")
    yield server
    server.stop()


def start_slow_post(api, path: str, token: str | None) -> socket.socket:
    """POST `path` announcing a 60,000-byte body and sending its first byte only."""
    sock = socket.create_connection(("127.0.0.1", api.port), timeout=10)
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 f"Content-Length: 60000\r\n{auth}\r\n{{".encode())
    return sock


def start_slow_launch(api, token: str | None) -> socket.socket:
    return start_slow_post(api, "/jobs/detect_track", token)


def answer_within(sock: socket.socket, seconds: float) -> bytes:
    """What the server sends back within `seconds` (until it closes or goes quiet)."""
    sock.settimeout(seconds)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
            if b"\r\n\r\n" in data and data.endswith(b"}"):
                break
    except (TimeoutError, ConnectionResetError):
        pass
    return data


def closed_after_answer(sock: socket.socket, within_s: float) -> bool:
    """The server closed the connection within `within_s`, after whatever it answered."""
    sock.settimeout(within_s)
    try:
        while sock.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_a_write_without_the_token_is_refused_before_its_body_arrives(slow_body_api):
    spec = httpx.get(f"{slow_body_api.url}/openapi.json", timeout=10).json()
    reads = {"get", "head"}
    writes = {path: ops[method] for path, ops in spec["paths"].items() for method in ops if method not in reads}
    assert all(set(spec["paths"][path]) <= reads | {"post"} for path in writes)  # every write is a POST...
    assert all(op.get("security") == [{"HTTPBearer": []}] for op in writes.values())  # ...that needs the token
    assert {"/jobs/detect_track", "/shows/{show}/people/edits", "/shows/{show}/people/undo",
            "/shows/{show}/suggestions/not-same"} <= set(writes)
    socks = [start_slow_post(slow_body_api, path.replace("{show}", "some-show"), token)
             for path in writes for token in (None, "wrong")]
    try:
        started = time.monotonic()
        for sock in socks:
            answer = answer_within(sock, 2)
            assert answer.startswith(b"HTTP/1.1 401 ") and time.monotonic() - started < 2, answer[:200]
            assert b'{"detail":"missing or wrong bearer token"}' in answer and b"www-authenticate: Bearer" in answer
        for sock in socks:  # the rest of the body is not waited for past the body deadline
            assert closed_after_answer(sock, BODY_TIMEOUT_S + 2)
    finally:
        for sock in socks:
            sock.close()
    # A launch that sends its whole body at once still gets its 401 (and the right token gets past it).
    url = f"{slow_body_api.url}/jobs/detect_track"
    probe = {"ep_id": "show-s01e01", "video": "/etc/passwd"}
    assert httpx.post(url, json=probe, timeout=10).status_code == 401
    assert httpx.post(url, json=probe, headers={"Authorization": "Bearer s3cret-token"}, timeout=10).status_code == 422


def test_a_request_body_that_is_slow_to_arrive_gets_408_and_is_closed(slow_body_api):
    sock = start_slow_launch(slow_body_api, "s3cret-token")
    try:
        started, answer = time.monotonic(), b""
        sock.settimeout(0.25)
        while time.monotonic() - started < BODY_TIMEOUT_S + 3 and not answer:  # a byte every 0.25 s
            try:
                sock.sendall(b" ")
                answer = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
        answer += answer_within(sock, 2)
        took = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:300]
        assert BODY_TIMEOUT_S - 0.5 < took < BODY_TIMEOUT_S + 2, took
        assert b"connection: close" in answer.lower() and b"SCREENTIME_API_BODY_TIMEOUT_S" in answer
        assert closed_after_answer(sock, 2)
    finally:
        sock.close()


def test_slow_bodies_do_not_starve_healthz(slow_body_api):
    """40 connections trickling launch bodies against a cap of 20: past the cap the one that has
    waited longest makes room, /healthz keeps answering at once, and every one is closed by the
    body deadline."""
    before = open_fds(slow_body_api.process.pid)
    slow = [start_slow_launch(slow_body_api, "s3cret-token") for _ in range(40)]
    stop = threading.Event()

    def trickle():
        while not stop.is_set():
            for sock in slow:
                try:
                    sock.sendall(b" ")
                except OSError:
                    pass
            stop.wait(0.5)

    trickler = threading.Thread(target=trickle, daemon=True)
    trickler.start()
    try:
        started = time.monotonic()
        for _ in range(5):
            asked = time.monotonic()
            assert httpx.get(f"{slow_body_api.url}/healthz", timeout=2).status_code == 200
            assert time.monotonic() - asked < 1
        assert time.monotonic() - started < BODY_TIMEOUT_S  # all answered while the bodies were still due
        assert open_fds(slow_body_api.process.pid) <= before + 20 + 2
        pending = list(slow)

        def all_closed() -> bool:
            pending[:] = [sock for sock in pending if not closed_after_answer(sock, 0.01)]
            return not pending

        wait_for(all_closed, BODY_TIMEOUT_S + 5, 0.2, "every slow body to be closed (evicted, or 408 at its deadline)")
    finally:
        stop.set()
        trickler.join(5)
        for sock in slow:
            sock.close()
    assert httpx.get(f"{slow_body_api.url}/healthz", timeout=2).status_code == 200
