"""The package as a normal install: the wheel, not the editable install, serves the code location.

The wheel is built from a copy of the source (as deploy/Dockerfile does), installed with
`pip install --target` into a fresh folder, and run by the base interpreter with
PYTHONPATH=<that folder>:<.venv's site-packages>. PYTHONPATH entries process no .pth files, so the
editable install's finder (a .pth in .venv's site-packages) is not active: what imports comes from
the wheel, or, from the repository root, from the source `screentime/` that the working directory
puts first on sys.path, which must be the same complete package (pyproject.toml,
[tool.setuptools.packages.find]; docs/architecture.md, "Installed under one namespace").
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# What deploy/Dockerfile copies into its build stage.
SOURCE = ["pyproject.toml", "README.md", "screentime", "pipelines", "assets", "resources", "progress_api"]
BASE_PYTHON = getattr(sys, "_base_executable", sys.executable)
VENV_SITE = sysconfig.get_paths()["purelib"]

PROBE = r"""
import json, os, sys
import screentime
import screentime.pipelines.definitions as definitions
import screentime.progress_api.app
from importlib import resources
import dagster as dg

dg.Definitions.validate_loadable(definitions.defs)
keys = sorted(k.to_user_string() for k in definitions.defs.resolve_asset_graph().get_all_asset_keys())
print(json.dumps({
    "screentime": screentime.__file__,
    "modules": {name: getattr(mod, "__file__", None) for name, mod in sys.modules.items()
                if name.startswith("screentime.")},
    "finders": [type(f).__module__ if not isinstance(f, type) else f.__module__ for f in sys.meta_path],
    "static": resources.files("screentime.progress_api").joinpath("static", "index.html").is_file(),
    "instance_yaml": resources.files("screentime.pipelines").joinpath("dagster.yaml").is_file(),
    "assets": keys,
}))
"""


def _packages(root: Path) -> set[str]:
    """Dotted names of the folders under root/screentime (symlinks followed) that hold __init__.py."""
    found = set()
    for path, dirs, files in os.walk(root / "screentime", followlinks=True):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        if "__init__.py" in files:
            found.add(".".join(Path(path).relative_to(root).parts))
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def wheel_site(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(the wheel, the folder it is installed in, a scratch folder for DAGSTER_HOME and data)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in SOURCE:
        path = REPO / name
        if path.is_dir():  # symlinks copied as symlinks, as docker COPY does
            shutil.copytree(path, src / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(tmp / "dist"), str(src)],
                   check=True, capture_output=True, text=True)
    (wheel,) = (tmp / "dist").glob("screentime-*.whl")
    site = tmp / "site"
    subprocess.run([*pip, "install", "--no-deps", "--no-compile", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, text=True)
    scratch = tmp / "scratch"
    (scratch / "dagster_home").mkdir(parents=True)
    return wheel, site, scratch


def _env(site: Path, scratch: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "DAGSTER_", "SCREENTIME_"))}
    env.update(PYTHONPATH=f"{site}{os.pathsep}{VENV_SITE}", PYTHONNOUSERSITE="1",
               DAGSTER_HOME=str(scratch / "dagster_home"), SCREENTIME_DATA_DIR=str(scratch / "data"),
               SCREENTIME_VIDEOS_DIR=str(scratch / "videos"), YOLO_CONFIG_DIR=str(scratch / "yolo"))
    return env


def test_every_top_level_package_is_linked_under_screentime():
    """screentime/<name> -> ../<name> for each top-level package folder, and no link dangles."""
    top = {p.name for p in REPO.iterdir() if p.is_dir() and p.name != "screentime" and (p / "__init__.py").is_file()}
    links = {p.name: os.readlink(p) for p in (REPO / "screentime").iterdir() if p.is_symlink()}
    assert links == {name: f"../{name}" for name in top}
    assert all((REPO / "screentime" / name / "__init__.py").is_file() for name in links)


def test_the_wheel_holds_every_package_and_its_data(wheel_site):
    wheel, _, _ = wheel_site
    names = set(zipfile.ZipFile(wheel).namelist())
    in_wheel = {str(Path(n).parent).replace("/", ".") for n in names if n.endswith("/__init__.py")}
    in_source = _packages(REPO)
    assert {"screentime.assets", "screentime.pipelines", "screentime.resources",
            "screentime.progress_api.routes"} <= in_source
    assert in_wheel == in_source
    # Every module of every package ships.
    for package in in_source:
        folder = REPO / Path(*package.split("."))
        for module in folder.glob("*.py"):
            assert f"{package.replace('.', '/')}/{module.name}" in names
    # Every package-data pattern of pyproject.toml matches files, and they all ship.
    data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    for package, patterns in data.items():
        folder = REPO / Path(*package.split("."))
        for pattern in patterns:
            files = [f for f in folder.glob(pattern) if f.is_file()]
            assert files, f"{package}: {pattern} matches nothing"
            for f in files:
                assert f"{package.replace('.', '/')}/{f.relative_to(folder)}" in names


@pytest.mark.parametrize("where", ["repo root", "elsewhere"])
def test_the_installed_wheel_loads_and_serves_the_definitions(wheel_site, where, tmp_path):
    _, site, scratch = wheel_site
    cwd = REPO if where == "repo root" else tmp_path
    env = _env(site, scratch)

    probe = subprocess.run([BASE_PYTHON, "-c", PROBE], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert probe.returncode == 0, probe.stderr[-4000:]
    seen = json.loads(probe.stdout.strip().splitlines()[-1])
    assert not any("editable" in f for f in seen["finders"]), seen["finders"]
    # From elsewhere everything is the wheel's; from the repository root the working directory comes
    # first on sys.path, so Python takes the source screentime/, which must be complete on its own.
    root = site if where == "elsewhere" else REPO
    assert Path(seen["screentime"]).parent == root / "screentime"
    assert seen["modules"]["screentime.assets"].startswith(str(root / "screentime" / "assets"))
    assert all(f is None or f.startswith(str(root / "screentime")) for f in seen["modules"].values())
    assert seen["static"] and seen["instance_yaml"]
    assert {"frames", "manifests", "show_people"} <= set(seen["assets"])

    # The code server, as deploy/k8s/user-code.yaml starts it.
    port = _free_port()
    server = subprocess.Popen(
        [BASE_PYTHON, "-m", "dagster", "api", "grpc", "-m", "screentime.pipelines.definitions", "-a", "defs",
         "--host", "127.0.0.1", "--port", str(port)],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, f"code server exited {server.returncode}:\n{server.stdout.read()[-4000:]}"
            check = subprocess.run([BASE_PYTHON, "-m", "dagster", "api", "grpc-health-check", "--host", "127.0.0.1",
                                    "--port", str(port)], cwd=cwd, env=env, capture_output=True, text=True,
                                   timeout=120)
            if check.returncode == 0:
                break
            assert time.monotonic() < deadline, f"no healthy code server on {port}: {check.stdout}{check.stderr}"
            time.sleep(1)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            out, _ = server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            out, _ = server.communicate()
    assert "Started Dagster code server" in out, out[-4000:]
