"""Word (.docx), PowerPoint (.pptx) and OpenDocument text (.odt): paragraphs, headings and tables in order.

python-docx and python-pptx read the Office Open XML formats, odfpy the OpenDocument one. Headings start
sections; a table becomes one block per row, its cells joined by " | ", so rows are never run together.
Slides are pages: each passage of a deck says its slide.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from indexer.ingest.readers.base import Block, Extracted, SkipKind, Unreadable, iso

_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # an encrypted Office file is an OLE container, not a zip


def _open_zip_format(path: Path, kind: str) -> None:
    """Unreadable unless `path` is a zip package (encrypted Office files and damaged ones are not)."""
    with path.open("rb") as fh:
        head = fh.read(4)
    if head == _OLE_MAGIC:
        raise Unreadable(SkipKind.encrypted, f"encrypted {kind} (needs a password); save a copy without one")
    if not zipfile.is_zipfile(path):
        raise Unreadable(SkipKind.corrupt, f"damaged or truncated {kind} (not a valid zip package)")


def _core(props: Any) -> tuple[str | None, dict[str, Any]]:
    """Title and (author, created, modified) from Office core properties."""
    return (props.title or None), {
        "author": props.author or None,
        "created": iso(props.created),
        "modified": iso(props.modified),
    }


def _row(cells: list[str]) -> str:
    return " | ".join(" ".join(c.split()) for c in cells)


def read_docx(path: Path) -> Extracted:
    """Paragraphs and tables in body order; "Heading N" and "Title" paragraphs start sections."""
    import docx
    from docx.table import Table

    _open_zip_format(path, "Word file")
    try:
        document = docx.Document(str(path))
        blocks: list[Block] = []
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                blocks.extend(Block(_row([c.text for c in row.cells])) for row in item.rows)
                continue
            style = (item.style.name if item.style is not None else "") or ""
            blocks.append(Block(item.text, heading=style.startswith("Heading") or style == "Title"))
        title, metadata = _core(document.core_properties)
    except (KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise Unreadable(SkipKind.corrupt, f"damaged Word file ({exc})") from exc
    return Extracted(blocks, title=title, metadata=metadata)


def read_pptx(path: Path) -> Extracted:
    """Each slide's title (a heading), text frames and tables; the slide number is the page."""
    import pptx

    _open_zip_format(path, "PowerPoint file")
    try:
        deck = pptx.Presentation(str(path))
        blocks: list[Block] = []
        slides = 0
        for number, slide in enumerate(deck.slides, start=1):
            slides = number
            title_shape = slide.shapes.title
            if title_shape is not None and title_shape.has_text_frame:
                blocks.append(Block(title_shape.text_frame.text, page=number, heading=True))
            for shape in slide.shapes:
                if title_shape is not None and shape.shape_id == title_shape.shape_id:
                    continue
                blocks.extend(Block(text, page=number) for text in _shape_texts(shape))
        title, metadata = _core(deck.core_properties)
    except (KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise Unreadable(SkipKind.corrupt, f"damaged PowerPoint file ({exc})") from exc
    metadata["slides"] = slides
    return Extracted(blocks, title=title, metadata=metadata, pages=slides)


def _shape_texts(shape: Any) -> Iterator[str]:
    if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
        yield from (p.text for p in shape.text_frame.paragraphs)
    if getattr(shape, "has_table", False) and shape.has_table:
        yield from (_row([c.text for c in row.cells]) for row in shape.table.rows)
    for child in getattr(shape, "shapes", ()):  # a group
        yield from _shape_texts(child)


def read_odt(path: Path) -> Extracted:
    """Headings, paragraphs, list items and table rows of an OpenDocument text, in order."""
    from odf import dc, meta, teletype
    from odf.namespaces import TABLENS, TEXTNS
    from odf.opendocument import load

    _open_zip_format(path, "OpenDocument file")
    try:
        document = load(str(path))
    except (KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise Unreadable(SkipKind.corrupt, f"damaged OpenDocument file ({exc})") from exc
    blocks: list[Block] = []

    def walk(node: Any) -> None:
        for child in node.childNodes:
            name = getattr(child, "qname", None)
            if name == (TEXTNS, "h"):
                blocks.append(Block(teletype.extractText(child), heading=True))
            elif name == (TEXTNS, "p"):
                blocks.append(Block(teletype.extractText(child)))
            elif name == (TABLENS, "table-row"):
                cells = [teletype.extractText(c) for c in child.childNodes if getattr(c, "qname", None)]
                blocks.append(Block(_row(cells)))
            elif name is not None:
                walk(child)  # sections, lists, list items, tables

    walk(document.text)

    def first(kind: Any) -> str | None:
        found = document.meta.getElementsByType(kind)
        return teletype.extractText(found[0]) or None if found else None

    metadata = {"author": first(meta.InitialCreator) or first(dc.Creator), "created": first(meta.CreationDate)}
    return Extracted(blocks, title=first(dc.Title), metadata=metadata)
