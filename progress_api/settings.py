"""The sidecar's settings, from the environment, and the dependencies that hand them to routes."""

from __future__ import annotations

import os
import secrets
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, field_validator

from screentime.storage.settings import StorageSettings

DEFAULT_DAGSTER_URL = "http://127.0.0.1:3000"


class ApiSettings(BaseModel):
    storage: StorageSettings = Field(default_factory=StorageSettings.from_env)
    dagster_url: str = Field(DEFAULT_DAGSTER_URL, description="Dagster webserver the API launches runs through")
    dagster_ui_url: str = Field("", description="Base of the run links shown to people; default dagster_url")
    api_token: str = Field("", description="When set, POST routes need `Authorization: Bearer <token>`")
    poll_s: float = Field(0.25, gt=0, le=10, description="How often a followed episode's progress is read")
    heartbeat_s: float = Field(15.0, gt=0, le=300, description="Seconds between SSE heartbeat comments")
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins (scheme://host[:port]) whose pages may call the API; "
        "none by default (CORS off)",
    )
    max_body_bytes: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024,
                                description="Largest request body accepted; larger ones get 413")
    max_streams_per_client: int = Field(32, ge=1, le=10_000,
                                        description="Event streams one client address may hold open; more get 429")

    @field_validator("dagster_url", "dagster_ui_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and (urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc):
            raise ValueError(f"{value!r} is not an http(s) URL, e.g. {DEFAULT_DAGSTER_URL}")
        return value

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
        env = os.environ
        values: dict[str, object] = {"storage": StorageSettings.from_env()}
        for field, name in (
            ("dagster_url", "SCREENTIME_DAGSTER_URL"),
            ("dagster_ui_url", "SCREENTIME_DAGSTER_UI_URL"),
            ("api_token", "SCREENTIME_API_TOKEN"),
            ("poll_s", "SCREENTIME_API_POLL_S"),
            ("heartbeat_s", "SCREENTIME_API_HEARTBEAT_S"),
            ("max_body_bytes", "SCREENTIME_API_MAX_BODY_BYTES"),
            ("max_streams_per_client", "SCREENTIME_API_MAX_STREAMS_PER_CLIENT"),
        ):
            if env.get(name):
                values[field] = env[name]
        if env.get("SCREENTIME_API_CORS_ORIGINS"):
            values["cors_origins"] = [o.strip() for o in env["SCREENTIME_API_CORS_ORIGINS"].split(",") if o.strip()]
        return cls(**values)


def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


_bearer = HTTPBearer(auto_error=False, description="Needed only when SCREENTIME_API_TOKEN is set")


def require_token(
    settings: ApiSettings = Depends(get_settings),
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
) -> None:
    """Checks the bearer token when the API has one configured; open otherwise."""
    if not settings.api_token:
        return
    given = credentials.credentials if credentials is not None else ""
    if not secrets.compare_digest(given.encode(), settings.api_token.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "missing or wrong bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
