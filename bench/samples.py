"""Files of every supported format, generated (never downloaded), for the tests and `python -m bench formats`.

Each page, slide or chapter holds known sentences, so a test can check that every passage says the page whose
text holds it, and the benchmark can score an extractor's text against what was written."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

PAGE_WORDS = ["lighthouse", "glacier", "orchard", "volcano", "harbour", "meadow", "canyon", "estuary", "tundra", "reef"]


def page_text(page: int) -> str:
    """Two paragraphs that only page `page` holds (its keyword appears nowhere else)."""
    word = PAGE_WORDS[(page - 1) % len(PAGE_WORDS)]
    return (
        f"Page {page} is about the {word}. The {word} keeper wrote a report on page {page} every morning. "
        f"Visitors to the {word} counted birds and measured the wind.\n\n"
        f"A second paragraph about the {word} closes page {page}, so the page holds more than one sentence."
    )


def make_pdf(path: Path, pages: int = 3, *, title: str = "Field notes", password: str | None = None) -> Path:
    """A PDF of `pages` text pages with a heading each and a table on page 1; encrypted with `password`."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title(title)
    pdf.set_author("A. Keeper")
    pdf.set_creation_date(datetime(2024, 5, 17, 9, 30, tzinfo=UTC))
    if password is not None:
        pdf.set_encryption(owner_password="owner", user_password=password)
    for page in range(1, pages + 1):
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 16)
        pdf.cell(0, 10, f"Chapter {page}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=11)
        for paragraph in page_text(page).split("\n\n"):
            pdf.multi_cell(0, 6, paragraph, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(4)
        if page == 1:
            with pdf.table() as table:
                for row in (("Station", "Birds"), ("North cape", "41"), ("South spit", "17")):
                    cells = table.row()
                    for cell in row:
                        cells.cell(cell)
    pdf.output(str(path))
    return path


def make_scanned_pdf(path: Path, pages: int = 2) -> Path:
    """A PDF whose pages are images only (what a scanner makes): no text layer."""
    from fpdf import FPDF
    from PIL import Image

    pdf = FPDF()
    image = Image.new("RGB", (200, 100), "white")
    for _ in range(pages):
        pdf.add_page()
        pdf.image(image, x=10, y=10, w=100)
    pdf.output(str(path))
    return path


FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"


def render_scan(
    text: str,
    dpi: int = 300,
    *,
    noise: float = 0.0,
    skew: float = 0.0,
    columns: int = 1,
    seed: int = 0,
) -> Image.Image:
    """A letter-size page of `text` as a scanner sees it: 11-point type at `dpi`, wrapped in `columns` columns,
    with `noise` (the share of pixels flipped to random greys) and rotated `skew` degrees."""
    import random

    from PIL import Image, ImageDraw, ImageFont

    width, height = int(8.5 * dpi), int(11 * dpi)
    page = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(FONT, size=round(11 * dpi / 72))
    margin, gap = dpi, dpi // 3
    column_width = (width - 2 * margin - gap * (columns - 1)) // columns
    line_height = round(font.size * 1.35)
    x, y, column = margin, margin, 0
    for paragraph in text.split("\n\n"):
        line = ""
        for word in paragraph.split():
            trial = f"{line} {word}".strip()
            if draw.textlength(trial, font=font) <= column_width:
                line = trial
                continue
            draw.text((x, y), line, font=font, fill=0)
            line, y = word, y + line_height
            if y > height - margin - line_height:
                column, y = column + 1, margin
                x = margin + column * (column_width + gap)
        draw.text((x, y), line, font=font, fill=0)
        y += 2 * line_height
    if noise:
        rng = random.Random(seed)
        pixels = page.load()
        assert pixels is not None
        for _ in range(int(width * height * noise)):
            pixels[rng.randrange(width), rng.randrange(height)] = rng.randrange(256)
    if skew:
        page = page.rotate(skew, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=255)
    return page


def make_scan_pdf(path: Path, pages: list[Image.Image], dpi: int = 300) -> Path:
    """An image-only PDF of `pages` (no text layer), as a scanner writes one."""
    pages[0].save(path, "PDF", resolution=dpi, save_all=True, append_images=pages[1:])
    return path


def scan_text(page: int) -> str:
    """What scanned page `page` of a test says: a certificate with a number only it holds."""
    word = PAGE_WORDS[(page - 1) % len(PAGE_WORDS)]
    return (
        f"The {word} boiler certificate, number {4100 + page}\n\n"
        f"This certifies that the boiler in building {page} was inspected on the third of May and found safe "
        f"to operate. The inspector measured a working pressure of {10 + page} bar and renewed the permit for "
        f"two years.\n\nSigned by the chief inspector of the harbour authority."
    )


def make_docx(path: Path) -> Path:
    """A Word file: a title, two headed sections, a table."""
    import docx

    document = docx.Document()
    document.core_properties.title = "Orchard handbook"
    document.core_properties.author = "B. Grower"
    document.add_heading("Orchard handbook", level=0)
    document.add_heading("Pruning", level=1)
    document.add_paragraph("Prune the apple trees in late winter. Cut crossing branches first.")
    document.add_heading("Harvest", level=1)
    document.add_paragraph("Pick the pears while they are still firm. Store them cool and dark.")
    table = document.add_table(rows=3, cols=2)
    for r, row in enumerate((("Variety", "Ripe in"), ("Conference", "September"), ("Cox", "October"))):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.save(str(path))
    return path


def make_pptx(path: Path, slides: int = 3) -> Path:
    """A deck of `slides` slides, each with a title and the text of that page number."""
    import pptx

    deck = pptx.Presentation()
    deck.core_properties.title = "Coastal survey"
    for number in range(1, slides + 1):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = f"Slide {number}"
        slide.placeholders[1].text = page_text(number).split("\n\n")[0]
    deck.save(str(path))
    return path


def make_odt(path: Path) -> Path:
    """An OpenDocument text with a title, a heading and two paragraphs."""
    from odf import dc
    from odf.opendocument import OpenDocumentText
    from odf.text import H, P

    document = OpenDocumentText()
    document.meta.addElement(dc.Title(text="Meadow diary"))
    document.text.addElement(H(outlinelevel=1, text="Meadow diary"))
    document.text.addElement(P(text="The meadow flowers opened in May. Bees visited the clover first."))
    document.text.addElement(H(outlinelevel=2, text="June"))
    document.text.addElement(P(text="In June the grass was cut and dried for hay."))
    document.save(str(path))
    return path


def make_epub(path: Path) -> Path:
    """A two-chapter EPUB (container, package document, XHTML chapters)."""
    chapters = {
        "ch1.xhtml": "<h1>The canyon</h1><p>The canyon walls glowed red at dusk.</p>",
        "ch2.xhtml": "<h1>The reef</h1><p>The reef sheltered small fish from the current.</p>",
    }
    opf = (
        '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0">'
        '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Travels</dc:title>'
        "<dc:creator>C. Walker</dc:creator></metadata><manifest>"
        + "".join(f'<item id="{n}" href="{n}" media-type="application/xhtml+xml"/>' for n in chapters)
        + "</manifest><spine>"
        + "".join(f'<itemref idref="{n}"/>' for n in chapters)
        + "</spine></package>"
    )
    container = (
        '<?xml version="1.0"?><container xmlns="urn:oasis:names:tc:opendocument:xmlns:container" version="1.0">'
        '<rootfiles><rootfile full-path="OEBPS/book.opf" media-type="application/oebps-package+xml"/>'
        "</rootfiles></container>"
    )
    with zipfile.ZipFile(path, "w") as book:
        book.writestr("mimetype", "application/epub+zip")
        book.writestr("META-INF/container.xml", container)
        book.writestr("OEBPS/book.opf", opf)
        for name, body in chapters.items():
            book.writestr(f"OEBPS/{name}", f"<html xmlns='http://www.w3.org/1999/xhtml'><body>{body}</body></html>")
    return path


def make_rtf(path: Path) -> Path:
    """An RTF document of two paragraphs."""
    path.write_text(
        r"{\rtf1\ansi\deff0 {\fonttbl {\f0 Times;}}\f0 The estuary tide rose twice a day.\par"
        r"\par Herons waited at the estuary edge.\par}",
        encoding="ascii",
    )
    return path


def make_eml(path: Path) -> Path:
    """An e-mail with a subject, sender, date, a plain-text body and an attachment."""
    message = EmailMessage()
    message["Subject"] = "Tundra expedition plan"
    message["From"] = "Dana <dana@example.org>"
    message["To"] = "team@example.org"
    message["Date"] = "Fri, 17 May 2024 09:30:00 +0000"
    message.set_content("We leave for the tundra on Monday.\n\nPack warm boots and the radio.")
    message.add_attachment(b"route data", maintype="application", subtype="octet-stream", filename="route.gpx")
    path.write_bytes(bytes(message))
    return path


def make_corrupt(path: Path, source: Path) -> Path:
    """`source` cut in half: a truncated file of the same format."""
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def all_formats(folder: Path) -> dict[str, Path]:
    """One good file of every binary format in `folder`, by extension."""
    folder.mkdir(parents=True, exist_ok=True)
    return {
        ".pdf": make_pdf(folder / "notes.pdf"),
        ".docx": make_docx(folder / "handbook.docx"),
        ".pptx": make_pptx(folder / "survey.pptx"),
        ".odt": make_odt(folder / "diary.odt"),
        ".epub": make_epub(folder / "travels.epub"),
        ".rtf": make_rtf(folder / "estuary.rtf"),
        ".eml": make_eml(folder / "plan.eml"),
    }


def pdf_bytes(pages: int = 2) -> bytes:
    """A small PDF in memory (for upload tests)."""
    buffer = io.BytesIO()
    from fpdf import FPDF

    pdf = FPDF()
    for page in range(1, pages + 1):
        pdf.add_page()
        pdf.set_font("Helvetica", size=11)
        pdf.multi_cell(0, 6, page_text(page))
    pdf.output(buffer)
    return buffer.getvalue()
