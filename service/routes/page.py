"""GET /: the search page (one static HTML file, no build step)."""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from service.deps import SettingsDep

router = APIRouter(tags=["page"])

PAGE = Path(__file__).resolve().parent.parent / "static" / "index.html"


@router.get("/", include_in_schema=False)
async def page(settings: SettingsDep) -> HTMLResponse:
    """The search page: a box, the collection (those the key given on the page may read), the mode and k,
    results with highlights; it calls POST /collections/{collection}/search. With
    SEEKR_SOURCE_BASE_URL, each hit links to its file (at its page, for a PDF)."""
    base = html.escape(settings.source_base_url or "", quote=True)
    return HTMLResponse(PAGE.read_text(encoding="utf-8").replace("{{SOURCE_BASE_URL}}", base))
