"""The live page: static HTML, CSS and JS served by the app (no build step, no CDN)."""

from __future__ import annotations

import html
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from screentime.progress_api.deps import SettingsDep
from screentime.progress_api.settings import ApiSettings

router = APIRouter(tags=["page"])
STATIC = resources.files("screentime.progress_api") / "static"


@router.get("/", response_class=HTMLResponse, summary="The live progress page, for people")
def index(settings: SettingsDep) -> HTMLResponse:
    return _page("index.html", settings)


@router.get("/review", response_class=HTMLResponse,
            summary="Faces review: name, merge and split a show's people (?show=<show>[&ep=<ep_id>])")
def review(settings: SettingsDep) -> HTMLResponse:
    return _page("review.html", settings)


@router.get("/screentime", response_class=HTMLResponse,
            summary="Screen time per person (?show=<show>[&season=<n>|&ep=<ep_id>])")
def screentime(settings: SettingsDep) -> HTMLResponse:
    return _page("screentime.html", settings)


def _page(name: str, settings: ApiSettings) -> HTMLResponse:
    page = (STATIC / name).read_text(encoding="utf-8")
    return HTMLResponse(page.replace("{{DAGSTER_UI_URL}}", html.escape(settings.ui_url, quote=True)))
