"""The live page: static HTML, CSS and JS served by the app (no build step, no CDN)."""

from __future__ import annotations

import html
from importlib import resources

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from screentime.progress_api.settings import ApiSettings, get_settings

router = APIRouter(tags=["page"])
STATIC = resources.files("screentime.progress_api") / "static"


@router.get("/", response_class=HTMLResponse, summary="The live progress page, for people")
def index(settings: ApiSettings = Depends(get_settings)) -> HTMLResponse:
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    return HTMLResponse(page.replace("{{DAGSTER_UI_URL}}", html.escape(settings.ui_url, quote=True)))
