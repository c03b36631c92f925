"""One settings model for every environment variable Screentime reads (screentime/contracts/settings.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from screentime.contracts.errors import InvalidOption
from screentime.contracts.settings import Settings, StorageSettings, load_settings
from screentime.dev.settings_doc import DOC, reference_markdown
from screentime.progress_api.settings import ApiSettings

REPO = Path(__file__).resolve().parents[1]
SOURCES = [REPO / name for name in ("screentime", "pipelines", "assets", "resources", "progress_api")]
# Reading the environment anywhere but the settings model. Allowed: runtime.py sets variables for
# the native libraries (setdefault), dev/seaweed.py hands its child process an environment.
RAW_READ = re.compile(r"os\.environ\.get\(|os\.getenv\(|os\.environ\[[^\]]+\](?!\s*=)|environ\.copy\(")
ALLOWED = {"screentime/runtime.py", "screentime/dev/seaweed.py"}


def _python_files():
    seen = set()
    for root in SOURCES:
        for path in sorted(root.rglob("*.py")):
            real = path.resolve()
            if real not in seen:
                seen.add(real)
                yield real.relative_to(REPO).as_posix(), real.read_text()


def test_docs_settings_md_is_generated_from_the_models():
    assert DOC.read_text() == reference_markdown(), (
        "docs/settings.md differs from the settings models: run `.venv/bin/python -m screentime.dev.settings_doc "
        "--write`")


def test_the_environment_is_read_only_through_the_settings_model():
    raw = [f"{name}: {match.group(0)}" for name, text in _python_files() if name not in ALLOWED
           for match in RAW_READ.finditer(text)]
    assert raw == []


def test_every_variable_has_a_type_a_default_a_description_and_what_it_must_be():
    for model in (Settings, ApiSettings):
        for name, field in model.model_fields.items():
            if name == "storage_override":
                continue
            extra = field.json_schema_extra
            assert isinstance(extra, dict) and extra["env"] and extra["must"], name
            assert field.description and field.annotation is not None, name
            assert not field.is_required(), name


def test_an_s3_client_is_built_from_the_settings_in_one_place():
    callers = [name for name, text in _python_files() if re.search(r"\bmake_client\(|boto3\.client\(", text)]
    assert callers == ["screentime/storage/s3.py"]


@pytest.mark.parametrize("env, message", [
    ({"SCREENTIME_MAX_ATTEMPTS": "three"}, "SCREENTIME_MAX_ATTEMPTS must be a whole number from 1 to 100, got 'three'"),
    ({"SCREENTIME_RETRY_BACKOFF_S": "nan"}, "SCREENTIME_RETRY_BACKOFF_S must be seconds from 0 to 2592000"),
    ({"SCREENTIME_FRAME_MEMORY_MB": "100"}, "SCREENTIME_FRAME_MEMORY_MB must be a whole number of megabytes"),
    ({"SCREENTIME_THREADS": "0"}, "SCREENTIME_THREADS must be a whole number of threads"),
    ({"STORAGE_BACKEND": "gcs"}, "STORAGE_BACKEND must be local or s3, got 'gcs'"),
    ({"AWS_REGION": "us east 1"}, "AWS_REGION 'us east 1' is not a region name"),
    ({"AWS_ENDPOINT_URL_S3": "localhost:8333"}, "AWS_ENDPOINT_URL_S3 'localhost:8333' is not an http(s)"),
])
def test_a_bad_variable_is_one_line_naming_it(monkeypatch, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(InvalidOption) as caught:
        load_settings()
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_the_api_settings_extend_the_core_and_their_errors_are_one_line(monkeypatch):
    monkeypatch.setenv("SCREENTIME_API_CORS_ORIGINS", "*")
    with pytest.raises(InvalidOption) as caught:
        ApiSettings.from_env()
    assert str(caught.value).startswith("SCREENTIME_API_CORS_ORIGINS: '*' is not an origin") and "\n" not in str(
        caught.value)
    monkeypatch.delenv("SCREENTIME_API_CORS_ORIGINS")
    monkeypatch.setenv("SCREENTIME_DATA_DIR", "/srv/artifacts")
    monkeypatch.setenv("SCREENTIME_MAX_ATTEMPTS", "5")
    settings = ApiSettings.from_env()
    assert isinstance(settings, Settings) and settings.max_attempts == 5
    assert settings.storage == StorageSettings(data_dir="/srv/artifacts")
    given = ApiSettings(storage=StorageSettings(data_dir="/elsewhere"))
    assert given.storage.data_dir == "/elsewhere"


def test_empty_variables_are_unset_and_fallbacks_apply(monkeypatch):
    monkeypatch.setenv("STORAGE_BACKEND", "")
    monkeypatch.setenv("SCREENTIME_DATA_DIR", "")
    monkeypatch.setenv("AWS_REGION", "")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:8333")
    storage = load_settings().storage
    assert (storage.backend, storage.data_dir) == ("local", "./data")
    assert (storage.aws_region, storage.endpoint_url) == ("eu-west-1", "http://127.0.0.1:8333")
    assert StorageSettings.from_env() == storage


def test_importing_screentime_leaves_the_environment_alone():
    """The runtime environment is set by the entry points (configure_runtime), not by an import."""
    code = ("import os; before = dict(os.environ); import screentime, screentime.storage, screentime.library.sources, "
            "screentime.contracts.settings; assert dict(os.environ) == before, set(os.environ) ^ set(before)")
    env = {"PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                          cwd=REPO)
    assert done.returncode == 0, done.stderr


def test_the_code_location_sets_the_runtime_environment_first():
    code = ("import os; import screentime.pipelines.definitions; "
            "print(os.environ['YOLO_OFFLINE'], os.environ['OMP_NUM_THREADS'])")
    env = {"PATH": "/usr/bin:/bin", "SCREENTIME_THREADS": "3", "SCREENTIME_DATA_DIR": "/tmp/unused"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                          cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "3"]


def test_a_bad_variable_stops_the_cli_with_one_line_and_exit_2(tmp_path):
    exe = Path(sys.executable).parent / "screentime"
    env = {"PATH": "/usr/bin:/bin", "DAGSTER_HOME": str(tmp_path / "home"), "SCREENTIME_MAX_ATTEMPTS": "many"}
    done = subprocess.run([str(exe), "backfill", "show", "--dry-run"], env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    errors = [line for line in done.stderr.splitlines() if line.startswith(("error", "warning"))]
    assert done.returncode == 2 and errors == [
        "error: SCREENTIME_MAX_ATTEMPTS must be a whole number from 1 to 100, got 'many'"], done.stderr
    assert not (tmp_path / "home").exists()
