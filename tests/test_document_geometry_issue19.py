"""Issue 19, item 9 and the first half of item 10: official letters laid out as GB/T 9704-2012
asks, their wording, and the callback record's signature lines.

Geometry is measured on WeasyPrint's laid-out boxes (helpers from test_document_geometry). The
page is A4 with the type area (版心) 156 × 225 mm, 28 mm from the left and 37 mm from the top:
x from 28 to 184 mm, its centre at 106 mm, its foot at 262 mm. The letter format (信函格式,
clause 10.1) draws its red double rules 170 mm long, centred on the page: 20 to 190 mm. A 字 is
one 3号 character, 16 pt.
"""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
import sqlalchemy as sa
from pypdf import PdfReader
from weasyprint.formatting_structure import boxes

from models import Callback, Unit, db
from models.base import format_chinese_date
from models.enums import CallbackFollowUp, CaseStatus, Clock, DocumentKind, Satisfaction, TimeUnit
from models.operations import NotPermitted
from models.operations.callbacks import record_callback
from models.operations.deadlines import refresh_due
from models.operations.documents import build_html, issue_document
from models.operations.workflow import perform
from models.rendering.catalog import TYPES
from models.rendering.pdf import render_document
from models.rendering.wording import paragraphs, tidy_punctuation
from tests.test_clocks_replies import handed_over as accepted_and_acknowledged
from tests.test_document_geometry import PX_PER_PT, mm, text_of

TYPE_LEFT, TYPE_RIGHT, TYPE_FOOT = 28.0, 184.0, 262.0
TYPE_CENTRE = (TYPE_LEFT + TYPE_RIGHT) / 2
CHAR_MM = 16 / 72 * 25.4
LINE_MM = 28.9 / 72 * 25.4
AUTHORITY = "示范县人民政府信访局"


def geometry_only(backend):
    if backend != "sqlite":
        pytest.skip("layout does not depend on the database")


def letter_of(body: str, *, kind=DocumentKind.reply_letter, authority=AUTHORITY):
    doc_type = TYPES[kind]
    html = build_html(
        doc_type,
        dict.fromkeys(doc_type.variables, "") | {"称呼": "王堃"},
        authority=authority,
        number="县信复〔2026〕12号",
        issued_on=date(2026, 3, 1),
        title_template="王堃信访事项答复意见书",
        body_template="{{ 称呼 }}：\n" + body,
    )
    return render_document(html)


def boxes_of_class(box, name: str) -> list:
    """Boxes whose element has the class ``name`` (outermost only)."""
    found = []

    def walk(node):
        if isinstance(node, boxes.MarginBox):
            return
        element = getattr(node, "element", None)
        classes = ((element.get("class") if element is not None else None) or "").split()
        if name in classes and not isinstance(node, (boxes.LineBox, boxes.TextBox)):
            found.append(node)
            return
        for child in getattr(node, "children", ()):
            walk(child)

    walk(box)
    return found


def text_boxes(box) -> list:
    if isinstance(box, boxes.TextBox):
        return [box]
    return [t for child in getattr(box, "children", ()) for t in text_boxes(child)]


def ink_extent(box) -> tuple[float, float]:
    """Left and right end (mm) of the characters in ``box``: the advance of the last glyph
    without the letter spacing WeasyPrint adds after it."""
    texts = [t for t in text_boxes(box) if t.text.strip()]
    left = min(t.position_x for t in texts)
    last = max(texts, key=lambda t: t.position_x + t.width)
    spacing = last.style["letter_spacing"]
    spacing = 0 if spacing == "normal" else spacing
    return mm(left), mm(last.position_x + last.width - spacing)


def lines_in(box) -> list:
    found = []

    def walk(node):
        if isinstance(node, boxes.LineBox):
            found.append(node)
            return
        for child in getattr(node, "children", ()):
            walk(child)

    walk(box)
    return found


def page_lines(page_box) -> list[tuple[str, object]]:
    """(class of the paragraph, line box) of every body paragraph line on a page, top down."""
    found = []
    for name in ("addressee", "body", "level-one", "level-two", "closing"):
        for paragraph in boxes_of_class(page_box, name):
            if paragraph.element_tag == "p":
                found.extend((name, line) for line in lines_in(paragraph))
    return sorted(found, key=lambda item: item[1].position_y)


def bottom(line) -> float:
    return mm(line.position_y + line.height)


# --- the head: authority name and rules ------------------------------------------------------


def test_authority_name_is_centred_on_the_type_area(app, backend):
    geometry_only(backend)
    for authority in (AUTHORITY, "示范县住房和城乡建设局", "县信访局"):
        page = letter_of("经调查核实反映的情况基本属实。", authority=authority).pages[0]
        (mark,) = boxes_of_class(page._page_box, "mark")
        left, right = ink_extent(mark)
        assert abs((left + right) / 2 - TYPE_CENTRE) <= 1, (authority, left, right)
        # Red, 30 mm from the top edge (信函格式).
        assert abs(mm(mark.content_box_y()) - 30) <= 1


def test_red_rules_are_170_mm_centred_on_the_page(app, backend):
    geometry_only(backend)
    page = letter_of("经调查核实反映的情况基本属实。").pages[0]._page_box
    for name in ("rule-top", "rule-bottom"):
        (rule,) = boxes_of_class(page, name)
        left = mm(rule.border_box_x())
        right = mm(rule.border_box_x() + rule.border_width())
        assert abs(left - 20) <= 0.5 and abs(right - 190) <= 0.5, (name, left, right)
    (bottom_rule,) = boxes_of_class(page, "rule-bottom")
    # 20 mm above the bottom edge of the page.
    rule_foot = mm(bottom_rule.border_box_y() + bottom_rule.border_height())
    assert abs(297 - rule_foot - 20) <= 1.5


# --- the signature: date four characters in, name centred over it ------------------------------


def signature_parts(page_box):
    (signature,) = boxes_of_class(page_box, "signature")
    (signer,) = boxes_of_class(signature, "signer")
    (dated,) = boxes_of_class(signature, "date")
    return signature, signer, dated


def test_date_ends_four_characters_from_the_right_and_the_name_centres_on_it(app, backend):
    geometry_only(backend)
    for authority in (AUTHORITY, "县信访局", "示范县人民政府办公室信访科"):
        page = letter_of("经调查核实反映的情况基本属实。", authority=authority).pages[-1]
        _signature, signer, dated = signature_parts(page._page_box)
        date_left, date_right = ink_extent(dated)
        indent = (TYPE_RIGHT - date_right) / CHAR_MM
        assert abs(indent - 4) <= 0.3, (authority, indent)
        name_left, name_right = ink_extent(signer)
        assert abs((name_left + name_right) / 2 - (date_left + date_right) / 2) <= 1, authority
        assert name_right <= TYPE_RIGHT + 0.5
        assert text_of(dated).strip() == "2026年3月1日"


def test_a_name_too_long_to_centre_stands_two_characters_in(app, backend):
    geometry_only(backend)
    authority = "示范县人民政府信访工作联席会议办公室"
    page = letter_of("经调查核实反映的情况基本属实。", authority=authority).pages[-1]
    _signature, signer, dated = signature_parts(page._page_box)
    name_left, name_right = ink_extent(signer)
    assert abs((TYPE_RIGHT - name_right) / CHAR_MM - 2) <= 0.3
    # The date starts two characters right of the name.
    date_left, _date_right = ink_extent(dated)
    assert abs((date_left - name_left) / CHAR_MM - 2) <= 0.3


# --- justified lines reach the right margin ------------------------------------------------


DIGIT_TEXT = (
    "经核查，该小区3号楼电梯于2026年1月5日停运，物业公司于2026年1月8日报修，"
    "维修资金12万元于2026年3月20日到位，电梯已于2026年4月2日修复并通过检测，"
    "编号为XF2026-000123的信访事项已办理完毕。"
)


def test_lines_with_numbers_are_justified_to_the_right_margin(app, backend):
    geometry_only(backend)
    document = letter_of("\n".join([DIGIT_TEXT] * 6))
    checked = 0
    for page in document.pages:
        for paragraph in boxes_of_class(page._page_box, "body"):
            lines = lines_in(paragraph)
            for line in lines[:-1]:  # a paragraph's last line stays ragged
                left, right = ink_extent(line)
                assert abs(right - TYPE_RIGHT) <= 0.5, (text_of(line), right)
                # Two characters in on a paragraph's first line (DIGIT_TEXT starts with 经核查).
                indent = 2 * CHAR_MM if text_of(line).startswith("经核查") else 0
                assert abs(left - TYPE_LEFT - indent) <= 0.5, (text_of(line), left)
                checked += 1
            # The last line keeps its natural spacing: nothing spread.
            last = text_boxes(lines[-1])[-1]
            assert abs(last.style["letter_spacing"] - (-0.25 * PX_PER_PT)) < 0.01
    assert checked >= 12


# --- pagination --------------------------------------------------------------------------------


def test_middle_pages_are_full(app, backend):
    geometry_only(backend)
    body = "\n".join(
        [
            "一、查明的事实",
            *[DIGIT_TEXT] * 5,
            "二、处理意见",
            *[DIGIT_TEXT] * 5,
            "三、救济途径",
            *[DIGIT_TEXT] * 3,
            "特此答复。",
        ]
    )
    pages = letter_of(body).pages
    assert len(pages) >= 3
    for number, page in enumerate(pages[1:-1], start=2):
        lines = page_lines(page._page_box)
        following = page_lines(pages[number]._page_box)
        # Full to the foot of the type area: 22 lines, the last one ending at 262 mm; one line
        # fewer only where a heading went over with its first line.
        full = following[0][0] not in ("level-one", "level-two")
        assert len(lines) == (22 if full else 21), (number, len(lines))
        assert TYPE_FOOT - (0 if full else LINE_MM) - 1.5 <= bottom(lines[-1][1]) <= TYPE_FOOT + 1

    # Paragraphs of any length, no headings: every page but the last has 22 lines.
    pages = letter_of("\n".join([DIGIT_TEXT, "经调查核实反映的情况基本属实。"] * 14)).pages
    assert len(pages) >= 3
    # The first page, below the head, is filled too: no room left for another line.
    assert TYPE_FOOT - bottom(page_lines(pages[0]._page_box)[-1][1]) < LINE_MM
    for page in pages[1:-1]:
        lines = page_lines(page._page_box)
        assert len(lines) == 22 and abs(bottom(lines[-1][1]) - TYPE_FOOT) <= 1.5


def test_a_heading_never_ends_a_page(app, backend):
    geometry_only(backend)
    headings_at_foot_would_be = 0
    for lead in range(10, 22):
        body = "\n".join(
            [
                *["经调查核实反映的情况基本属实。"] * lead,
                "二、处理意见",
                DIGIT_TEXT,
                "（一）关于修复电梯",
                DIGIT_TEXT,
                "特此答复。",
            ]
        )
        pages = letter_of(body).pages
        for page in pages[:-1]:
            lines = page_lines(page._page_box)
            assert lines[-1][0] not in ("level-one", "level-two"), (lead, text_of(lines[-1][1]))
        headings_at_foot_would_be += len(pages) > 1
    assert headings_at_foot_would_be > 0


def closing_height(page_box) -> float:
    """From the top of 特此答复。 to the foot of the signature block (mm)."""
    (closing,) = [p for p in boxes_of_class(page_box, "closing") if p.element_tag == "p"]
    (signature,) = boxes_of_class(page_box, "signature")
    return mm(signature.border_box_y() + signature.border_height()) - mm(closing.border_box_y())


def test_the_closing_moves_only_when_it_does_not_fit_and_never_alone(app, backend):
    geometry_only(backend)
    two_page = 0
    for count in range(8, 26):
        body = "\n".join(["经调查核实反映的情况基本属实。"] * count + ["特此答复。"])
        pages = letter_of(body).pages
        last = pages[-1]._page_box
        lines = page_lines(last)
        # 特此答复。 and the signature share the last page with body text.
        assert any(kind == "body" for kind, _line in lines), count
        if len(pages) == 1:
            continue
        two_page += 1
        previous = page_lines(pages[-2]._page_box)
        moved = sum(mm(line.height) for kind, line in lines if kind == "body")
        # Had the body lines stayed, the room left under them was too small for the closing
        # and signature: they did not fit, so they went over, taking the least body with them.
        room = TYPE_FOOT - bottom(previous[-1][1]) - moved
        assert room < closing_height(last), (count, room)
        if TYPE_FOOT - bottom(previous[-1][1]) >= LINE_MM:
            # The page before was left short on purpose: only one body line went over.
            assert moved <= LINE_MM + 0.5, count
    assert two_page > 3


# --- wording -------------------------------------------------------------------------------


def test_doubled_punctuation_collapses_to_the_last_mark():
    assert tidy_punctuation("因需检测。，不能在原定期限") == "因需检测，不能在原定期限"
    assert tidy_punctuation("不属于本机关受理事项。；法定途径") == "不属于本机关受理事项；法定途径"
    assert tidy_punctuation("已办结。。") == "已办结。"
    assert tidy_punctuation("一、二、三。正常，句子；不变") == "一、二、三。正常，句子；不变"
    assert paragraphs("特此答复。")[0] == ("closing", "特此答复。")
    assert paragraphs("特此答复某某的来信并说明有关情况。")[0][0] == "body"


@pytest.fixture
def people(app, government, create_user):
    units = {unit.name: unit for unit in db.session.scalars(sa.select(Unit))}
    office_unit, housing = units["县信访局"], units["县住房和城乡建设局"]
    return {
        "office": create_user("office", unit=office_unit),
        "registrar": create_user("registrar", unit=office_unit),
        "leader": create_user("leader", unit=units["县政府领导"]),
        "head": create_user("dept_head", unit=housing),
        "handler": create_user("handler", unit=housing),
        "housing": housing,
    }


def pdf_words(data: bytes) -> str:
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    return re.sub(r"—\d+—", "", re.sub(r"\s+", "", text))


def handed_over(people, create_case, create_party, subject="电梯停运"):
    party = create_party(name="王堃", phone="13800000000")
    case = create_case(by=people["registrar"], subject=subject, petitioners=[party])
    accepted_and_acknowledged(case, people)
    return case


def clock_of(case, kind):
    return next(c for c in case.clocks if c.kind == kind and c.stopped_at is None)


def extend(case, people, clock: str, amount: int, reason: str):
    perform(
        "request_extension", case, by=people["handler"], clock=clock, amount=amount, reason=reason
    )
    perform("decide_extension", case, by=people["leader"], approved=True)


def test_extension_notice_tells_the_closing_deadline_in_words(people, create_case, create_party):
    case = handed_over(people, create_case, create_party)
    closing = clock_of(case, Clock.closing)
    handling = clock_of(case, Clock.handling)
    # The internal 承办 clock is extended first: nothing to tell the petitioner yet.
    extend(case, people, "handling", 2, "等待现场勘验。")
    db.session.commit()
    with pytest.raises(NotPermitted, match="尚无可写入"):
        issue_document(case, DocumentKind.extension_notice, by=people["office"])
    db.session.rollback()

    old_closing_due = closing.due_at
    # Typed with a full stop, as people do.
    extend(case, people, "closing", 30, "需委托第三方机构检测电梯安全状况。")
    db.session.commit()
    assert closing.due_at > old_closing_due
    document, _created = issue_document(case, DocumentKind.extension_notice, by=people["office"])
    text = pdf_words(document.pdf)
    assert "因需委托第三方机构检测电梯安全状况，不能在原定办结期限" in text
    assert f"（{format_chinese_date(old_closing_due)}）内办结" in text
    assert f"办结期限延长30日，至{format_chinese_date(closing.due_at)}。" in text
    # The 承办 clock's dates never reach the petitioner.
    assert format_chinese_date(handling.due_at) not in text
    for doubled in ("。，", "。；", "，。", "；。"):
        assert doubled not in text, doubled
    assert "您反映的关于电梯停运" in text and "书面告知您" in text
    assert "你" not in text


def test_extension_in_working_days_reads_as_working_days(people, create_case, create_party):
    case = handed_over(people, create_case, create_party)
    # A unit whose 办结 period is counted in working days (enterprise presets do so).
    closing = clock_of(case, Clock.closing)
    closing.amount, closing.unit, closing.max_extension = 10, TimeUnit.working_days, 5
    refresh_due(closing)
    db.session.commit()
    extend(case, people, "closing", 2, "需补充材料")
    db.session.commit()
    document, _created = issue_document(case, DocumentKind.extension_notice, by=people["office"])
    text = pdf_words(document.pdf)
    assert "办结期限延长2个工作日，至" + format_chinese_date(closing.due_at) in text
    assert "2工作日" not in text.replace("2个工作日", "")


def test_extension_of_the_reply_deadline_says_reply(people, create_case, create_party):
    case = handed_over(people, create_case, create_party)
    reply = clock_of(case, Clock.closing)
    reply.kind = Clock.reply  # a sector that promises a reply by a date
    db.session.commit()
    extend(case, people, "reply", 10, "需补充材料")
    db.session.commit()
    document, _created = issue_document(case, DocumentKind.extension_notice, by=people["office"])
    text = pdf_words(document.pdf)
    assert "不能在原定答复期限" in text and "内答复。经批准，答复期限延长10日" in text


def reported(case, people, *, decision: str):
    perform(
        "report_result",
        case,
        by=people["handler"],
        facts="经现场核查，电梯主板损坏。",
        decision=decision,
    )
    perform("approve_result", case, by=people["head"])


DECISION = "1. 关于修复电梯的诉求，予以支持：责成物业公司于2026年5月10日前修复。"


@pytest.mark.parametrize(
    "answer",
    [
        DECISION,  # the reply repeats the decision word for word
        DECISION.replace("\n", "\r\n") + "\r\n",  # typed in a form: CR LF and a trailing line
        DECISION + "\n请您监督落实。",  # the decision and one more sentence
        "请您监督落实。",  # something else: printed after the decision
    ],
)
def test_reply_letter_prints_the_decision_once_and_says_you_politely(
    people, create_case, create_party, answer
):
    case = handed_over(people, create_case, create_party)
    reported(case, people, decision=DECISION)
    perform("reply", case, by=people["office"], method="letter", text=answer)
    db.session.commit()
    assert case.status in (CaseStatus.replied, CaseStatus.closed)
    document, _created = issue_document(case, DocumentKind.reply_letter, by=people["office"])
    text = pdf_words(document.pdf)
    assert text.count("责成物业公司于2026年5月10日前修复") == 1, text
    assert ("请您监督落实。" in text) == ("请您监督落实" in answer)
    assert "你" not in text and "您反映电梯停运" in text
    for doubled in ("。，", "。；"):
        assert doubled not in text


def test_non_acceptance_notice_has_no_doubled_punctuation(people, create_case, create_party):
    party = create_party(name="孙某", phone="13900000009")
    case = create_case(by=people["registrar"], subject="合同纠纷", petitioners=[party])
    perform(
        "not_accept",
        case,
        by=people["registrar"],
        reason="该事项属于民事纠纷，不属于信访受理事项。",
        legal_route="通过诉讼、仲裁等法定途径解决。",
    )
    db.session.commit()
    document, _created = issue_document(
        case, DocumentKind.non_acceptance_notice, by=people["registrar"]
    )
    text = pdf_words(document.pdf)
    assert "您反映的事项，请通过诉讼、仲裁等法定途径解决。特此告知。" in text
    assert "。。" not in text and "你" not in text


# --- the callback record (item 10) --------------------------------------------------------


def test_callback_record_prints_signature_lines_and_the_charge_check(
    people, create_case, create_party
):
    case = handed_over(people, create_case, create_party, subject="水管漏水维修")
    reported(case, people, decision="已更换水管。")
    db.session.commit()
    callback = Callback(
        case=case,
        caller=people["office"],
        person_reached="王堃",
        done_at=case.accepted_at,
        satisfaction=Satisfaction.satisfied,
        opinion="已修好，收费合理。",
        charges_checked=True,
        signature_obtained=True,
        follow_up=CallbackFollowUp.none,
        note="维修费80元，与收费标准一致",
    )
    record_callback(callback, by=people["office"])
    db.session.commit()
    document, _created = issue_document(case, DocumentKind.callback_record, by=people["office"])
    text = pdf_words(document.pdf)
    caller = people["office"].full_name
    for expected in (
        "是否核对收费是",
        "被回访人是否签名是",
        "跟进措施无需跟进",
        "备注维修费80元，与收费标准一致",
        f"回访人（签名）：{caller}",
        "被回访人（签名）：王堃",
        "审核人（签名）：",
    ):
        assert expected in text, expected
    # One page, signature lines included.
    assert len(PdfReader(io.BytesIO(document.pdf)).pages) == 1


def test_callback_record_says_no_when_charges_were_not_checked(people, create_case, create_party):
    case = handed_over(people, create_case, create_party)
    reported(case, people, decision="已修复。")
    record_callback(
        Callback(case=case, done_at=case.accepted_at, satisfaction=Satisfaction.satisfied),
        by=people["office"],
    )
    db.session.commit()
    document, _created = issue_document(case, DocumentKind.callback_record, by=people["office"])
    text = pdf_words(document.pdf)
    assert "是否核对收费否" in text and "被回访人是否签名否" in text
    assert "回访人（签名）：" in text and "审核人（签名）：" in text
