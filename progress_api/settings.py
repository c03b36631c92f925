"""The sidecar's settings, read from the environment by pydantic-settings (each variable's name is
its field's alias; a bad value fails at start with the variable named)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from screentime.storage.settings import StorageSettings

DEFAULT_DAGSTER_URL = "http://127.0.0.1:3000"


def _env(name: str, field: str) -> AliasChoices:
    """Read from the variable `name`; in code, the field's own name works too."""
    return AliasChoices(field, name)


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore", env_ignore_empty=True)

    storage: StorageSettings = Field(default_factory=StorageSettings.from_env, exclude=True,
                                     validation_alias="SCREENTIME_API_STORAGE_NOT_FROM_ENV",
                                     description="the pipeline's storage settings (STORAGE_BACKEND, ...)")
    dagster_url: str = Field(DEFAULT_DAGSTER_URL, validation_alias=_env("SCREENTIME_DAGSTER_URL", "dagster_url"),
                             description="Dagster webserver the API launches runs through")
    dagster_ui_url: str = Field("", validation_alias=_env("SCREENTIME_DAGSTER_UI_URL", "dagster_ui_url"),
                                description="Base of the run links shown to people; default dagster_url")
    api_token: str = Field("", validation_alias=_env("SCREENTIME_API_TOKEN", "api_token"),
                           description="When set, POST routes need `Authorization: Bearer <token>`")
    poll_s: float = Field(0.25, gt=0, le=10, validation_alias=_env("SCREENTIME_API_POLL_S", "poll_s"),
                          description="How often a followed episode's progress is read")
    heartbeat_s: float = Field(15.0, gt=0, le=300, validation_alias=_env("SCREENTIME_API_HEARTBEAT_S", "heartbeat_s"),
                               description="Seconds between SSE heartbeat comments")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_env("SCREENTIME_API_CORS_ORIGINS", "cors_origins"),
        description="Origins (scheme://host[:port]) whose pages may call the API, comma-separated in the "
        "environment; none by default (CORS off)",
    )
    max_body_bytes: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024,
                                validation_alias=_env("SCREENTIME_API_MAX_BODY_BYTES", "max_body_bytes"),
                                description="Largest request body accepted; larger ones get 413")
    max_streams_per_client: int = Field(
        32, ge=1, le=10_000, validation_alias=_env("SCREENTIME_API_MAX_STREAMS_PER_CLIENT", "max_streams_per_client"),
        description="Event streams one client address may hold open; more get 429")

    head_timeout_s: float = Field(
        10.0, ge=0.1, le=300, validation_alias=_env("SCREENTIME_API_HEAD_TIMEOUT_S", "head_timeout_s"),
        description="Seconds a connection may take to send a request's head (line and headers); then it is closed")
    body_timeout_s: float = Field(
        10.0, ge=0.1, le=300, validation_alias=_env("SCREENTIME_API_BODY_TIMEOUT_S", "body_timeout_s"),
        description="Seconds a request's body may take to arrive, from the end of its head; then it gets 408 "
        "(or, when already answered, the connection is closed)")
    max_connections: int = Field(
        0, ge=0, le=1_000_000, validation_alias=_env("SCREENTIME_API_MAX_CONNECTIONS", "max_connections"),
        description="Open connections at most (0: the open-files limit less a reserve); past it, the one that "
        "has waited longest for its request head is dropped")

    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_env("SCREENTIME_API_TRUSTED_PROXIES", "trusted_proxies"),
        description="Addresses of reverse proxies whose X-Forwarded-For names the client, comma-separated in the "
        "environment; none by default (a client is its socket's address)")

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, proxies: list[str]) -> list[str]:
        import ipaddress

        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(f"{proxy!r} is not an IP address or network, e.g. 10.0.0.5 or 10.0.0.0/24 "
                                 "(no '*')") from None
        return proxies

    @field_validator("dagster_url", "dagster_ui_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and (urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc):
            raise ValueError(f"{value!r} is not an http(s) URL, e.g. {DEFAULT_DAGSTER_URL}")
        return value

    @field_validator("cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        """The environment gives a list as one comma-separated string."""
        return [o.strip() for o in value.split(",") if o.strip()] if isinstance(value, str) else value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or origin != f"{parts.scheme}://{parts.netloc}":
                raise ValueError(f"{origin!r} is not an origin: use scheme://host[:port], e.g. https://ops.example.com "
                                 "(no path, no trailing slash, no '*')")
        return origins

    @property
    def ui_url(self) -> str:
        return self.dagster_ui_url or self.dagster_url

    @classmethod
    def from_env(cls) -> "ApiSettings":
        return cls()
