"""The CLI and the service read OCR and reranker settings through the same settings classes: the same defaults,
the same SEEKR_* variables (a flag wins over its variable), one range check, errors naming where a value came
from."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.cli import main
from indexer.cli.options import ocr_settings, rerank_options
from indexer.cli.parser import build_parser
from indexer.ingest.ocr.base import OcrMode
from indexer.rerank.base import RerankRuntime
from service.settings import Settings


def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OCR", "OCR_DPI", "OCR_THREADS", "OCR_LANGUAGES", "RERANK_KEY", "RERANK_CANDIDATES", "RERANK_RUNTIME"):
        monkeypatch.delenv(f"SEEKR_{name}", raising=False)


def test_a_build_reads_scans_as_the_service_does(monkeypatch: pytest.MonkeyPatch) -> None:
    _clean(monkeypatch)
    cli = ocr_settings(build_parser().parse_args(["build", "docs"]))
    service = Settings().ocr_settings()
    assert (cli.mode, cli.engine, cli.languages, cli.dpi, cli.threads, cli.cache_dir) == (
        service.mode,
        service.engine,
        service.languages,
        service.dpi,
        service.threads,
        service.cache_dir,
    )


def test_a_variable_sets_the_cli_default_and_a_flag_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    _clean(monkeypatch)
    monkeypatch.setenv("SEEKR_OCR_DPI", "400")
    monkeypatch.setenv("SEEKR_OCR_THREADS", "3")
    monkeypatch.setenv("SEEKR_OCR", "off")
    read = ocr_settings(build_parser().parse_args(["build", "docs"]))
    assert (read.dpi, read.threads, read.mode) == (400, 3, OcrMode.off)
    flagged = ocr_settings(build_parser().parse_args(["build", "docs", "--ocr-dpi", "200", "--ocr", "force"]))
    assert (flagged.dpi, flagged.threads, flagged.mode) == (200, 3, OcrMode.force)


def test_a_value_out_of_range_is_refused_once_naming_where_it_came_from(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _clean(monkeypatch)
    (tmp_path / "docs").mkdir()
    assert main(["build", str(tmp_path / "docs"), "--index", str(tmp_path / "i"), "--ocr-dpi", "20"]) == 2
    assert "--ocr-dpi: Input should be greater than or equal to 50" in capsys.readouterr().err
    monkeypatch.setenv("SEEKR_OCR_DPI", "5000")
    assert main(["build", str(tmp_path / "docs"), "--index", str(tmp_path / "i")]) == 2
    assert "SEEKR_OCR_DPI: Input should be less than or equal to 1200" in capsys.readouterr().err
    with pytest.raises(ValueError, match="less than or equal to 1200"):
        Settings()


def test_the_reranker_key_runtime_and_depth_come_from_the_same_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    _clean(monkeypatch)
    monkeypatch.setenv("SEEKR_RERANK_KEY", "secret-key")
    monkeypatch.setenv("SEEKR_RERANK_CANDIDATES", "7")
    monkeypatch.setenv("SEEKR_RERANK_RUNTIME", "onnx")
    options = rerank_options(build_parser().parse_args(["query", "a question"]))
    assert (options.rerank_key_value, options.rerank_candidates, options.rerank_runtime) == (
        "secret-key",
        7,
        RerankRuntime.onnx,
    )
    flagged = rerank_options(build_parser().parse_args(["query", "q", "--rerank-candidates", "3"]))
    assert flagged.rerank_candidates == 3
    service = Settings()
    assert (service.rerank_key_value, service.rerank_candidates) == ("secret-key", 7)
