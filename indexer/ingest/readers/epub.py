"""EPUB: the chapters in the book's reading order (its OPF spine), each chapter's headings starting sections.

An EPUB is a zip of XHTML files listed by an OPF package document; it is read with the standard library's
zipfile and lxml (already installed for HTML). EbookLib, the usual library, is AGPL-licensed, so it is not used.
"""

from __future__ import annotations

import posixpath
import zipfile
from pathlib import Path

from lxml import etree
from lxml import html as lxml_html

from indexer.ingest.readers.base import Block, Extracted, SkipKind, Unreadable

_CONTAINER = "META-INF/container.xml"
_NS = {
    "c": "urn:oasis:names:tc:opendocument:xmlns:container",
    "opf": "http://www.idpf.org/2007/opf",
    "dc": "http://purl.org/dc/elements/1.1/",
}
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_BLOCKS = _HEADINGS | {"p", "li", "blockquote", "pre", "dt", "dd", "figcaption", "caption", "tr"}


def read_epub(path: Path) -> Extracted:
    """Every chapter's blocks in spine order; title, author and date from the package metadata."""
    try:
        with zipfile.ZipFile(path) as book:
            if any(info.flag_bits & 0x1 for info in book.infolist()):
                raise Unreadable(SkipKind.encrypted, "encrypted EPUB (DRM); only DRM-free books can be read")
            root = etree.fromstring(book.read(_CONTAINER))
            opf_path = root.find(".//c:rootfile", _NS)
            if opf_path is None:
                raise Unreadable(SkipKind.corrupt, "EPUB without a package document (META-INF/container.xml)")
            opf_name = opf_path.get("full-path", "")
            opf = etree.fromstring(book.read(opf_name))
            base = posixpath.dirname(opf_name)
            items = {i.get("id"): i.get("href") for i in opf.iterfind(".//opf:manifest/opf:item", _NS)}
            blocks: list[Block] = []
            for ref in opf.iterfind(".//opf:spine/opf:itemref", _NS):
                href = items.get(ref.get("idref"))
                if href:
                    blocks.extend(_chapter(book.read(posixpath.normpath(posixpath.join(base, href)))))
    except (zipfile.BadZipFile, KeyError, etree.XMLSyntaxError) as exc:
        raise Unreadable(SkipKind.corrupt, f"damaged or truncated EPUB ({exc})") from exc

    def first(tag: str) -> str | None:
        found = opf.find(f".//dc:{tag}", _NS)
        return " ".join(found.itertext()).strip() or None if found is not None else None

    return Extracted(blocks, title=first("title"), metadata={"author": first("creator"), "created": first("date")})


def _chapter(raw: bytes) -> list[Block]:
    """The outermost block elements of one XHTML chapter; table rows as cells joined by " | "."""
    tree = lxml_html.fromstring(raw)
    out: list[Block] = []
    for el in tree.iter(*_BLOCKS):
        if any(a.tag in _BLOCKS for a in el.iterancestors()):
            continue  # its text is part of an enclosing block
        if el.tag == "tr":
            text = " | ".join(" ".join(cell.itertext()).strip() for cell in el if cell.tag in ("td", "th"))
        else:
            text = " ".join(el.itertext())
        out.append(Block(text, heading=el.tag in _HEADINGS))
    return out
