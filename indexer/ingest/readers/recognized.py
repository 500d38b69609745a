"""What the readers of scanned pages (PDF, images) do with a recognised page: its lines, or why it has none."""

from __future__ import annotations

from indexer.ingest.ocr.base import Recognized
from indexer.ingest.ocr.recognizer import PageFailure
from indexer.ingest.readers.base import Extracted, Problem, SkipKind


def ocr_metadata(confidence: dict[int, float]) -> dict[str, object]:
    """What a document read partly by OCR says of it (filterable): `ocr`, its pages, their mean confidence."""
    return {
        "ocr": True,
        "ocr_pages": len(confidence),
        "ocr_confidence": round(sum(confidence.values()) / len(confidence), 4),
    }


def record(extracted: Extracted, number: int, result: Recognized | PageFailure) -> None:
    """Put a recognised page's lines in `extracted`, or report why it has none."""
    if isinstance(result, PageFailure):
        extracted.problems.append(Problem(f"page {number}", result.reason, SkipKind.no_text))
    elif result.empty:
        extracted.problems.append(Problem(f"page {number}", "OCR found no text on the page", SkipKind.no_text))
    else:
        assert extracted.page_lines is not None
        extracted.page_lines[number - 1] = result.lines
        extracted.ocr[number] = result.confidence
