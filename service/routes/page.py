"""GET /: the search page (one static HTML file, no build step)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

router = APIRouter(tags=["page"])

PAGE = Path(__file__).resolve().parent.parent / "static" / "index.html"


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    """The search page: a box, the mode and k, results with highlights; it calls POST /search."""
    return FileResponse(PAGE, media_type="text/html")
