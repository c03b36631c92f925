"""A real, throwaway PostgreSQL server for the tests: Debian's `postgresql`, on a free loopback port.

initdb into a temporary folder, `postgres` started on 127.0.0.1 only, stopped by its PID (SIGTERM,
a "smart" shutdown) and the folder removed. PostgreSQL refuses to run as root, so as root (CI) the
server runs as the `postgres` user that Debian's package creates.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

USER = "postgres"  # the database superuser, and the OS user the server runs as under root


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str

    def env(self, db_name: str) -> dict[str, str]:
        """The variables deploy/k8s/dagster.yaml reads (trust auth: any password will do)."""
        return {"DAGSTER_PG_HOST": self.host, "DAGSTER_PG_PORT": str(self.port), "DAGSTER_PG_USER": self.user,
                "DAGSTER_PG_PASSWORD": "unused", "DAGSTER_PG_DB": db_name}

    def connect(self, db_name: str = "postgres"):
        import psycopg2

        connection = psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname=db_name)
        connection.autocommit = True
        return connection


def _binary(name: str) -> str | None:
    debian = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))  # Debian keeps them off PATH
    return debian[-1] if debian else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", USER, "--", *command] if os.geteuid() == 0 else command


def _wait_ready(folder: Path, port: int, log: Path, process: subprocess.Popen) -> int:
    """The postmaster's PID, once it accepts connections on the port."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"postgres exited early:\n{log.read_text()[-2000:]}")
        pid_file = folder / "data" / "postmaster.pid"
        if pid_file.is_file():
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    return int(pid_file.read_text().splitlines()[0])
        time.sleep(0.1)
    raise RuntimeError(f"postgres did not start in 30 s:\n{log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def postgres_server():
    initdb, postgres = _binary("initdb"), _binary("postgres")
    if not initdb or not postgres:
        pytest.fail("PostgreSQL is not installed: apt-get install postgresql (.ci/run does it)")
    folder = Path(tempfile.mkdtemp(prefix="screentime-pg-"))
    if os.geteuid() == 0:
        account = pwd.getpwnam(USER)
        os.chown(folder, account.pw_uid, account.pw_gid)
    log = folder / "server.log"
    subprocess.run(_as_server_user([initdb, "-D", str(folder / "data"), "-U", USER, "--auth=trust",
                                    "-E", "UTF8", "--no-sync"]), check=True, capture_output=True)
    port = _free_port()
    with open(log, "wb") as log_file:
        process = subprocess.Popen(_as_server_user([
            postgres, "-D", str(folder / "data"), "-p", str(port), "-c", "listen_addresses=127.0.0.1",
            "-k", str(folder), "-c", "fsync=off",
        ]), stdout=log_file, stderr=subprocess.STDOUT)
    pid = None
    try:
        pid = _wait_ready(folder, port, log, process)
        yield PostgresServer("127.0.0.1", port, USER)
    finally:
        if pid is not None:
            os.kill(pid, signal.SIGTERM)  # the postmaster itself: a smart shutdown
        else:
            process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_db(postgres_server, request) -> str:
    """A fresh database on the session's server; its name."""
    name = f"t_{os.getpid()}_{abs(hash(request.node.nodeid)) % 10**8}"
    with closing(postgres_server.connect()) as connection, connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    return name
