"""The PDF render core: the restrictive fetcher, inline SVG, time and memory limits."""

from __future__ import annotations

import io
import time

import pytest
from pypdf import PdfReader

from models.rendering import pdf
from models.rendering.pdf import RenderError, RestrictedFetcher, render_pdf

PAGE = (
    '<!DOCTYPE html><html><head><link rel="stylesheet" href="documents.css"></head>'
    "<body>{}</body></html>"
)


def pdf_text(data: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_render_returns_pdf_with_text_and_inline_svg():
    data = render_pdf(
        PAGE.format(
            "<p>信访通 堃喆玥赟龑䶮</p>"
            '<svg width="200" height="80" xmlns="http://www.w3.org/2000/svg">'
            '<rect width="120" height="40" fill="#c00"/>'
            '<text x="4" y="70" font-family="Noto Sans CJK SC">图表标签</text></svg>'
        )
    )
    assert data.startswith(b"%PDF-")
    text = pdf_text(data)
    assert "堃喆玥赟龑䶮" in text
    assert "图表标签" in text


@pytest.mark.parametrize(
    "markup",
    [
        '<link rel="attachment" href="file:///etc/hostname">',
        '<img src="http://169.254.169.254/latest/meta-data/">',
        '<img src="https://example.com/x.png">',
        "<style>@import url(file:///etc/passwd);</style>",
        '<img src="data:image/png;base64,iVBORw0KGgo=">',
        '<link rel="stylesheet" href="../pdf.py">',
        '<link rel="stylesheet" href="file:///dev/urandom">',
    ],
)
def test_fetcher_refuses_anything_outside_the_assets(markup):
    with pytest.raises(RenderError, match="不允许的外部资源"):
        render_pdf(PAGE.format("正文" + markup))


def test_fetcher_allow_list():
    fetcher = RestrictedFetcher()
    assert fetcher.allowed_path(pdf.ASSETS_BASE_URL + "documents.css") is not None
    for url in (
        "file:///etc/hostname",
        pdf.ASSETS_BASE_URL + "../pdf.py",
        pdf.ASSETS_BASE_URL + "missing.css",
        "http://127.0.0.1/documents.css",
        "https://example.com/",
        "data:text/css,body{}",
        "ftp://example.com/x.css",
        "file://otherhost" + pdf.ASSETS_DIR.as_posix() + "/documents.css",
    ):
        assert fetcher.allowed_path(url) is None, url
    with pytest.raises(pdf.FetchRefused):
        fetcher.fetch("file:///etc/hostname")


def test_render_time_limit(monkeypatch):
    def slow(_html):
        time.sleep(10)

    monkeypatch.setattr(pdf, "_write_pdf", slow)
    started = time.monotonic()
    with pytest.raises(RenderError, match="超过 1 秒"):
        render_pdf(PAGE.format("x"), timeout=1)
    assert time.monotonic() - started < 5


def test_render_memory_limit(monkeypatch):
    def greedy(_html):
        return bytes(2048 * 1024 * 1024)

    monkeypatch.setattr(pdf, "_write_pdf", greedy)
    with pytest.raises(RenderError, match="内存"):
        render_pdf(PAGE.format("x"), memory_limit_mb=256)
