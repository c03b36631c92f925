"""The sidecar's settings: the core's `Settings` (storage, ...) plus the API's own variables, read
from the environment by pydantic-settings (each variable's name is its field's alias; a bad value
fails at start with one line naming the variable). The reference is docs/settings.md."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

from screentime.contracts.settings import Settings, StorageSettings, env, load

DEFAULT_DAGSTER_URL = "http://127.0.0.1:3000"


class ApiSettings(Settings):
    # Set in code (tests); from the environment it is the core's storage section (STORAGE_BACKEND, ...).
    # Given in code (tests); otherwise the core's storage section, from STORAGE_BACKEND and the rest.
    storage_override: StorageSettings | None = Field(None, exclude=True, alias="storage")

    dagster_url: str = env("SCREENTIME_DAGSTER_URL", default=DEFAULT_DAGSTER_URL, must="an http(s) URL",
                           description="Dagster webserver the API launches runs through (GraphQL)")
    dagster_ui_url: str = env("SCREENTIME_DAGSTER_UI_URL", default="", must="an http(s) URL",
                              description="Base of the run links shown to people; empty: SCREENTIME_DAGSTER_URL")
    api_token: str = env("SCREENTIME_API_TOKEN", default="", must="a string",
                         description="When set, POST routes (run launch, people edits) need "
                         "`Authorization: Bearer <token>`, checked before the request body is read (reads stay open). "
                         "Set it in production")
    poll_s: float = env("SCREENTIME_API_POLL_S", default=0.25, gt=0, le=10, must="seconds, over 0 and at most 10",
                        description="How often a followed run's progress.json is read")
    heartbeat_s: float = env("SCREENTIME_API_HEARTBEAT_S", default=15.0, gt=0, le=300,
                             must="seconds, over 0 and at most 300",
                             description="Seconds between SSE heartbeat comments")
    cors_origins: Annotated[list[str], NoDecode] = env(
        "SCREENTIME_API_CORS_ORIGINS", default_factory=list, must="comma-separated scheme://host[:port] origins",
        description="Origins whose pages may call the API; none by default (CORS off)")
    max_body_bytes: int = env("SCREENTIME_API_MAX_BODY_BYTES", default=64 * 1024, ge=1024, le=16 * 1024 * 1024,
                              must="bytes from 1024 to 16777216",
                              description="Largest request body accepted; larger ones get 413")
    max_streams_per_client: int = env(
        "SCREENTIME_API_MAX_STREAMS_PER_CLIENT", default=32, ge=1, le=10_000, must="a whole number from 1 to 10000",
        description="Event streams one client address may hold open; more get 429")
    head_timeout_s: float = env(
        "SCREENTIME_API_HEAD_TIMEOUT_S", default=10.0, ge=0.1, le=300, must="seconds from 0.1 to 300",
        description="Seconds a connection may take to send a request's head (line and headers); then it is closed")
    body_timeout_s: float = env(
        "SCREENTIME_API_BODY_TIMEOUT_S", default=10.0, ge=0.1, le=300, must="seconds from 0.1 to 300",
        description="Seconds a request's body may take to arrive, from the end of its head; then it gets 408 "
        "(or, when already answered, the connection is closed)")
    max_connections: int = env(
        "SCREENTIME_API_MAX_CONNECTIONS", default=0, ge=0, le=1_000_000, must="a whole number from 0 to 1000000",
        description="Open connections at most (0: the open-files limit less 64); past it the connection that has "
        "waited longest for its request head, or for the rest of a body it has no answer for, is dropped")
    trusted_proxies: Annotated[list[str], NoDecode] = env(
        "SCREENTIME_API_TRUSTED_PROXIES", default_factory=list, must="comma-separated IP addresses or networks",
        description="Reverse proxies whose X-Forwarded-For names the client; none by default (forwarded headers "
        "are ignored: a client is its socket's address)")

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

    @model_validator(mode="after")
    def _storage_section(self) -> "ApiSettings":
        if self.storage_override is None:
            self.storage_override = Settings.storage.fget(self)  # type: ignore[attr-defined]
        return self

    @property
    def storage(self) -> StorageSettings:  # type: ignore[override]
        return self.storage_override or Settings.storage.fget(self)  # type: ignore[attr-defined]

    @property
    def ui_url(self) -> str:
        return self.dagster_ui_url or self.dagster_url

    @classmethod
    def from_env(cls) -> "ApiSettings":
        """From the environment; a bad value raises InvalidOption with one line naming the variable."""
        return load(cls)
