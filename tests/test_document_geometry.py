"""GB/T 9704-2012 geometry of the reply letter, measured on WeasyPrint's laid-out boxes:
A4, type area 37 mm from the top and 28 mm from the left (± 1 mm), 22 lines of 28 characters
on a full page, 28.9 pt line pitch, "— N —" page numbers 7 mm below the type area, right on odd
pages, left on even pages and none on the first page of a letter."""

from __future__ import annotations

import itertools
from datetime import date

import pytest
from weasyprint.formatting_structure import boxes

from models.enums import DocumentKind
from models.operations.documents import build_html
from models.rendering.catalog import TYPES
from models.rendering.pdf import render_document

PX_PER_MM = 96 / 25.4
PX_PER_PT = 96 / 72
#: No punctuation, so no line-start/line-end rules shift characters between lines.
FILLER = "信访工作条例规定办理期限答复意见书" * 60


def mm(px: float) -> float:
    return px / PX_PER_MM


def text_of(box) -> str:
    if isinstance(box, boxes.TextBox):
        return box.text
    return "".join(text_of(child) for child in getattr(box, "children", ()))


def body_lines(page_box):
    """Line boxes of body paragraphs (not the margin boxes) in reading order."""
    found = []

    def walk(box, in_body):
        if isinstance(box, boxes.MarginBox):
            return
        element = getattr(box, "element", None)
        element_class = (element.get("class") if element is not None else None) or ""
        in_body = in_body or (box.element_tag == "p" and element_class == "body")
        if isinstance(box, boxes.LineBox):
            if in_body:
                found.append(box)
            return
        for child in getattr(box, "children", ()):
            walk(child, in_body)

    walk(page_box, False)
    return found


def margin_boxes(page_box):
    return {
        box.at_keyword: box
        for box in page_box.children
        if isinstance(box, boxes.MarginBox) and text_of(box).strip()
    }


@pytest.fixture
def letter(app, backend):
    if backend != "sqlite":
        pytest.skip("layout does not depend on the database")
    doc_type = TYPES[DocumentKind.reply_letter]
    # One long paragraph, so page 2 is all full lines (no indent, no paragraph end).
    body = "{{ 称呼 }}：\n" + FILLER * 2
    html = build_html(
        doc_type,
        dict.fromkeys(doc_type.variables, "") | {"称呼": "王堃"},
        authority="示范县人民政府信访局",
        number="县信复〔2026〕12号",
        issued_on=date(2026, 3, 1),
        title_template="王堃信访事项答复意见书",
        body_template=body,
    )
    return render_document(html)


def test_page_size_margins_and_grid(letter):
    assert len(letter.pages) >= 3
    for page in letter.pages:
        assert abs(mm(page.width) - 210) < 0.5 and abs(mm(page.height) - 297) < 0.5
    full_page = letter.pages[1]._page_box
    # Type area: 37 mm from the top, 28 mm from the left, 156 × 225 mm.
    assert abs(mm(full_page.content_box_y()) - 37) <= 1
    assert abs(mm(full_page.content_box_x()) - 28) <= 1
    assert abs(mm(full_page.width) - 156) <= 1
    assert abs(mm(full_page.height) - 225) <= 1

    lines = body_lines(full_page)
    assert len(lines) == 22
    first = lines[0]
    assert abs(mm(first.position_y) - 37) <= 1 and abs(mm(first.position_x) - 28) <= 1
    pitches = {
        round((b.position_y - a.position_y) / PX_PER_PT, 1) for a, b in itertools.pairwise(lines)
    }
    assert all(abs(pitch - 28.9) <= 0.3 for pitch in pitches), pitches
    full_lines = [len(text_of(line)) for line in lines]
    assert set(full_lines) == {28}, full_lines
    # The last line ends within the type area's bottom edge (262 mm).
    assert mm(lines[-1].position_y + lines[-1].height) <= 262 + 1


def test_body_and_title_sizes(letter):
    page = letter.pages[0]._page_box
    sizes = {}

    def walk(box):
        if isinstance(box, boxes.TextBox):
            tag = box.element_tag
            sizes.setdefault(tag, set()).add(round(box.style["font_size"] / PX_PER_PT, 1))
        for child in getattr(box, "children", ()):
            walk(child)

    walk(page)
    assert sizes["h1"] == {22.0} and 16.0 in sizes["p"]


def test_page_numbers(letter):
    first = letter.pages[0]._page_box
    assert margin_boxes(first) == {}, "no page number on the first page of a letter"
    for index, page in enumerate(letter.pages[1:], start=2):
        numbers = margin_boxes(page._page_box)
        keyword = "@bottom-left" if index % 2 == 0 else "@bottom-right"
        assert list(numbers) == [keyword]
        box = numbers[keyword]
        assert text_of(box).strip() == f"— {index} —"
        line = next(iter(body_lines_of_margin(box)))
        # Dash line 7 mm below the type area (262 mm), one character (14 pt) in from the side.
        assert abs(mm(line.position_y) - 269) <= 1.5
        if index % 2 == 0:
            assert abs(mm(line.position_x) - (28 + 14 / 72 * 25.4)) <= 1
        else:
            right = mm(line.position_x + line.width)
            assert abs(right - (210 - 26 - 14 / 72 * 25.4)) <= 1


def body_lines_of_margin(box):
    if isinstance(box, boxes.LineBox):
        yield box
        return
    for child in getattr(box, "children", ()):
        yield from body_lines_of_margin(child)


def test_letter_head(letter):
    page = letter.pages[0]._page_box
    marks = []

    def walk(box):
        if box.element_tag == "p" and (box.element.get("class") or "") == "mark":
            marks.append(box)
            return
        for child in getattr(box, "children", ()):
            walk(child)

    walk(page)
    assert abs(mm(marks[0].content_box_y()) - 30) <= 1


def test_signature_never_stands_alone_on_a_page(app, backend):
    """However the body ends, the last page carries body text above the signature and date."""
    if backend != "sqlite":
        pytest.skip("layout does not depend on the database")
    doc_type = TYPES[DocumentKind.reply_letter]
    two_page_letters = 0
    for paragraphs in range(8, 24):
        body = "{{ 称呼 }}：\n" + "\n".join(["经调查核实反映的情况基本属实。"] * paragraphs)
        html = build_html(
            doc_type,
            dict.fromkeys(doc_type.variables, "") | {"称呼": "王堃"},
            authority="示范县人民政府信访局",
            number="县信复〔2026〕12号",
            issued_on=date(2026, 3, 1),
            title_template="王堃信访事项答复意见书",
            body_template=body,
        )
        pages = render_document(html).pages
        if len(pages) > 1:
            two_page_letters += 1
            assert body_lines(pages[-1]._page_box), paragraphs
    assert two_page_letters > 0
