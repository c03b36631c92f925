"""Every environment variable Screentime reads, in one pydantic-settings model.

`Settings` is the one place: each field names its variable, type, default, bounds and meaning.
The progress API's own variables are a subclass of it (`screentime.progress_api.settings.ApiSettings`),
and `StorageSettings` is the storage section (the Dagster storage resource mirrors it). Code asks
`load_settings()` (a bad value: `InvalidOption`, one line naming the variable, so the CLI exits 2);
`docs/settings.md` is generated from these models (`python -m screentime.dev.settings_doc --write`) and a
test keeps it in step.

Variables Screentime *sets* for the libraries it loads (YOLO_OFFLINE, OMP_NUM_THREADS, ...) are
not read here: `screentime.runtime.configure_runtime`, which each entry point calls, sets them.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal, TypeVar

from pydantic import AliasChoices, BaseModel, Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

from screentime.contracts.errors import InvalidOption

# What botocore accepts as a region name (a DNS label); anything else fails deep inside it.
_REGION = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?")
MAX_BACKOFF_S = 30 * 86400


def env(*names: str, must: str = "", **kwargs: Any) -> Any:
    """A field read from the variable `names[0]` (the others are fallbacks, in order).

    `must` says what a valid value is, for the one-line error ("X must be <must>, got 'v'"). In
    code the field's own name works too (populate_by_name); the environment knows only `names`."""
    extra = {"env": list(names), "must": must}
    return Field(validation_alias=AliasChoices(*names), json_schema_extra=extra, **kwargs)


def check_region(region: str) -> str:
    region = region.strip()
    if region and not _REGION.fullmatch(region):
        raise ValueError(f"AWS_REGION {region[:64]!r} is not a region name: letters, digits and '-', e.g. us-east-1")
    return region


class StorageSettings(BaseModel):
    """Where artifacts live: the storage section of `Settings` (`Settings.storage`)."""

    backend: str = Field("local", description="local or s3 (STORAGE_BACKEND)")
    data_dir: str = Field("./data", description="Root of local artifacts (SCREENTIME_DATA_DIR)")
    s3_bucket: str = Field("", description="Bucket for STORAGE_BACKEND=s3 (S3_BUCKET)")
    s3_prefix: str = Field("", description="Optional key prefix inside the bucket (S3_PREFIX)")
    aws_region: str = Field("", description="AWS region (AWS_REGION)")
    endpoint_url: str = Field("", description="S3-compatible endpoint (AWS_ENDPOINT_URL_S3)")

    @field_validator("aws_region")
    @classmethod
    def _check_region(cls, region: str) -> str:
        return check_region(region)

    @classmethod
    def from_env(cls) -> StorageSettings:
        """The storage section of `load_settings()`."""
        return load_settings().storage

    def storage_settings(self) -> StorageSettings:
        return StorageSettings(**{name: getattr(self, name) for name in StorageSettings.model_fields})


class Settings(BaseSettings):
    """Screentime's environment. Empty variables count as unset."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore", env_ignore_empty=True,
                                      case_sensitive=True)

    # --- the Dagster instance and the artifacts -------------------------------------------------
    dagster_home: str = env("DAGSTER_HOME", default="./.dagster_home", must="a folder",
                            description="The Dagster instance the CLI and `make ui` share (SQLite storage, seeded "
                            "once with pipelines/dagster.yaml); the CLI creates it")
    backend: Literal["local", "s3"] = env("STORAGE_BACKEND", default="local", must="local or s3",
                                          description="Where artifacts are stored: the local disk or an S3 bucket")
    data_dir: str = env("SCREENTIME_DATA_DIR", default="./data", must="a folder",
                        description="Root of the artifacts on a local disk (STORAGE_BACKEND=local)")
    s3_bucket: str = env("S3_BUCKET", default="", must="a bucket name",
                         description="The artifacts' bucket; needed with STORAGE_BACKEND=s3")
    s3_prefix: str = env("S3_PREFIX", default="", must="a key prefix",
                         description="Key prefix of the artifacts inside the bucket")
    aws_region: str = env("AWS_REGION", "AWS_DEFAULT_REGION", default="", must="a region name, e.g. us-east-1",
                          description="Region of the S3 client (artifacts and s3:// videos); empty: boto3's default")
    endpoint_url: str = env("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", default="",
                            must="an http(s)://host[:port] URL",
                            description="An S3-compatible server instead of AWS (path-style addressing). "
                            "Credentials come from boto3's standard chain (AWS_ACCESS_KEY_ID, ...)")

    # --- episodes -------------------------------------------------------------------------------
    videos_dir: str = env("SCREENTIME_VIDEOS_DIR", default="./videos", must="a folder or an s3:// URI",
                          description="The videos root, `<show>/s<SS>e<EE>.<ext>` under a folder or "
                          "`s3://bucket/prefix`; runs with no video given look there. The discovery sensor "
                          "watches it only when this is set: the default ./videos (the demo's) is never watched")
    sample_video: str = env("SCREENTIME_SAMPLE_VIDEO", default="", must="a file",
                            description="A local copy of carphone_pristine.mp4 for the demo, instead of fetching it")

    # --- resources ------------------------------------------------------------------------------
    decoder: Literal["auto", "pyav", "opencv", "torchcodec"] = env(
        "SCREENTIME_DECODER", default="auto", must="auto, pyav, opencv or torchcodec",
        description="Which decoder reads videos: auto is PyAV on the CPU and torchcodec (NVDEC) on CUDA; "
        "name one to pin it, e.g. pyav if NVDEC misbehaves (docs/gpu.md)")
    frame_memory_mb: int = env("SCREENTIME_FRAME_MEMORY_MB", default=2048, ge=256,
                               must="a whole number of megabytes (256 or more)",
                               description="Memory for frames in flight: the detector's batch, the decode queue, "
                               "pending JPEG exports")
    threads: int | None = env("SCREENTIME_THREADS", default=None, ge=1, le=4096,
                              must="a whole number of threads from 1 to 4096",
                              description="OMP_NUM_THREADS and MKL_NUM_THREADS, unless those are set; "
                              "unset: the core count")

    # --- failed episodes ------------------------------------------------------------------------
    max_attempts: int = env("SCREENTIME_MAX_ATTEMPTS", default=3, ge=1, le=100,
                            must="a whole number from 1 to 100",
                            description="Runs of one failing video file, the first included, before the "
                            "episode is quarantined")
    retry_backoff_s: float = env("SCREENTIME_RETRY_BACKOFF_S", default=600.0, ge=0, le=MAX_BACKOFF_S,
                                 must=f"seconds from 0 to {MAX_BACKOFF_S} (30 days)",
                                 description="Wait after an episode's first failure before it is retried; "
                                 "doubles after each further one")

    @field_validator("aws_region")
    @classmethod
    def _check_region(cls, region: str) -> str:
        return check_region(region)

    @field_validator("endpoint_url")
    @classmethod
    def _check_endpoint(cls, url: str) -> str:
        url = url.strip()
        if url and not re.match(r"https?://[^/]+", url):
            raise ValueError(f"AWS_ENDPOINT_URL_S3 {url[:80]!r} is not an http(s)://host[:port] URL")
        return url

    @field_validator("retry_backoff_s")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError(f"SCREENTIME_RETRY_BACKOFF_S must be seconds from 0 to {MAX_BACKOFF_S}, got {value!r}")
        return value

    @property
    def storage(self) -> StorageSettings:
        return StorageSettings(backend=self.backend, data_dir=self.data_dir, s3_bucket=self.s3_bucket,
                               s3_prefix=self.s3_prefix, aws_region=self.aws_region, endpoint_url=self.endpoint_url)


S = TypeVar("S", bound=BaseSettings)


def describe_settings_error(model: type[BaseSettings], exc: ValidationError) -> str:
    """One line for a ValidationError of a settings model: each bad variable, what it must be, its value."""
    parts = []
    for err in exc.errors():
        name = str(err["loc"][0]) if err.get("loc") else ""
        field = _field_of(model, name)
        variable = _variables(field)[0] if field is not None and _variables(field) else name
        must = (field.json_schema_extra or {}).get("must") if field is not None else ""  # type: ignore[union-attr]
        message = str(err.get("msg", "")).removeprefix("Value error, ")
        if err.get("type") == "value_error":  # a validator's own sentence
            parts.append(message if variable in message else f"{variable}: {message}")
        elif must:
            parts.append(f"{variable} must be {must}, got {str(err.get('input'))[:80]!r}")
        else:
            parts.append(f"{variable}: {message}")
    return "; ".join(parts)


def _field_of(model: type[BaseSettings], name: str) -> FieldInfo | None:
    if name in model.model_fields:
        return model.model_fields[name]
    return next((f for f in model.model_fields.values() if name in _variables(f)), None)


def _variables(field: FieldInfo) -> list[str]:
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    return list(extra.get("env") or [])  # type: ignore[arg-type]


def load(model: type[S]) -> S:
    """`model()` from the environment; a bad value raises InvalidOption with one line."""
    try:
        return model()
    except ValidationError as exc:
        raise InvalidOption(describe_settings_error(model, exc)) from None


def load_settings() -> Settings:
    """Screentime's settings from the environment now (read on each call: cheap, and tests change it)."""
    return load(Settings)


# --- the reference, docs/settings.md -------------------------------------------------------------

def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    else:
        value = field.default
    if value is None:
        return ""
    if isinstance(value, list):
        value = ",".join(value)
    return f"`{value}`" if value != "" else ""


def reference_rows(model: type[BaseSettings]) -> list[str]:
    """One Markdown table row per variable of `model` (fields of a parent model are left out)."""
    own = [name for name in model.model_fields if not any(name in base.model_fields for base in model.__mro__[1:]
                                                           if isinstance(base, type) and issubclass(base, BaseSettings)
                                                           and base is not BaseSettings)]
    rows = []
    for name in own:
        field = model.model_fields[name]
        names = _variables(field)
        if not names:
            continue
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        variable = " (or ".join(f"`{n}`" for n in names) + ")" * (len(names) - 1)
        rows.append(f"| {variable} | {_default(field)} | {extra.get('must', '')} | {field.description or ''} |")
    return rows
