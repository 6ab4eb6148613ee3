"""Retention and destruction (S9 step 5, S20 steps 2-3): retention dates from the rules, the
存信 register by region and year, destruction by batch that erases content and personal data
from every table and file and keeps a tombstone, refusals under retention, the printed
destruction register, and who may do what."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from models import (
    Appointment,
    Attachment,
    AuditEntry,
    Call,
    Callback,
    Case,
    CaseClock,
    CaseReply,
    CaseRepresentative,
    Commendation,
    DestructionBatch,
    IssuedDocument,
    Letter,
    Notification,
    OutgoingContact,
    Party,
    RectificationOrder,
    RetentionRule,
    Unit,
    Visit,
    db,
)
from models.base import utcnow
from models.enums import (
    AppointmentKind,
    AttachmentKind,
    CaseStatus,
    Clock,
    ContactMethod,
    RectificationSource,
    ReplyKind,
    ReplyMethod,
    RetentionOutcome,
    TimeUnit,
)
from models.maintenance.configuration import export_configuration
from models.maintenance.presets import PRESETS
from models.operations import InvalidTransition, ValidationFailed
from models.operations.attachments import attachment_root, store_attachment
from models.operations.callbacks import record_callback
from models.operations.cases import record_case_edit
from models.operations.contacts import register_contact
from models.operations.retention import destroy_batch, refresh_retention, select_cases
from models.operations.workflow import available_steps, destroy, keep, not_accept
from models.permissions import DEFAULT_ROLES
from models.retention import add_years, today
from tests.conftest import row_counts
from tests.test_documents import pdf_words

#: ASCII, so it is found inside JSON payloads too (they store "\\uXXXX" for Chinese).
MARKER = "QMARK7731"


@pytest.fixture
def staff(app, government, create_user):
    units = {unit.name: unit for unit in db.session.scalars(sa.select(Unit))}
    office = units["县信访局"]
    housing = units["县住房和城乡建设局"]
    return {
        "admin": create_user("admin", unit=office),
        "office": create_user("office", unit=office),
        "registrar": create_user("registrar", unit=office),
        "leader": create_user("leader", unit=units["县政府领导"]),
        "head": create_user("dept_head", unit=housing),
        "handler": create_user("handler", unit=housing),
        "supervisor": create_user("supervisor", unit=office),
    }


def fresh(case) -> Case:
    db.session.expire_all()
    return db.session.get(Case, case.id)


def kept_case(create_case, by, *, region="城关镇", year=2020, **fields) -> Case:
    case = create_case(by=by, **fields)
    keep(case, by=by, region=region, year=year)
    db.session.commit()
    return fresh(case)


# --- retention dates ---------------------------------------------------------------------------


def test_retention_dates_follow_the_rules_and_default_to_five_years(
    staff, create_case, client, login_as
):
    registrar = staff["registrar"]
    case = create_case(by=registrar, subject="已起诉的纠纷")
    assert case.retain_until is None  # open: nothing counts yet
    not_accept(case, by=registrar, reason="已起诉", legal_route="诉讼途径")
    db.session.commit()
    case = fresh(case)
    assert case.retention_from == today()
    assert case.retain_until == add_years(today(), 5)  # 政府信访: 不予受理 5 years

    # No rule at all: the default five years.
    db.session.execute(sa.delete(RetentionRule))
    refresh_retention()
    db.session.commit()
    assert fresh(case).retain_until == add_years(today(), 5)

    # The most specific rule wins: the case's category over any category, then the outcome.
    category = case.category
    parent_rule = RetentionRule(name="任何结果3年", outcome=RetentionOutcome.any, years=3)
    outcome_rule = RetentionRule(name="不予受理7年", outcome=RetentionOutcome.not_accepted, years=7)
    db.session.add_all([parent_rule, outcome_rule])
    refresh_retention()
    db.session.commit()
    assert fresh(case).retain_until == add_years(today(), 7)
    if category is not None:
        db.session.add(RetentionRule(name="本分类任何结果9年", category_id=category.id, years=9))
        refresh_retention()
        db.session.commit()
        assert fresh(case).retain_until == add_years(today(), 9)

    # A rule made in the browser recomputes the dates at once, and the case page shows it.
    db.session.execute(sa.delete(RetentionRule))
    db.session.commit()
    login_as(staff["admin"])
    response = client.post(
        "/admin/retentionrule/new/",
        data={"name": "不予受理10年", "outcome": "not_accepted", "years": "10", "is_active": "y"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)[-1500:]
    assert db.session.scalar(sa.select(sa.func.count(RetentionRule.id))) == 1
    until = add_years(today(), 10)
    assert fresh(case).retain_until == until
    page = client.get(f"/admin/case/details/?id={case.id}").get_data(as_text=True)
    assert "保存期至" in page and until.isoformat() in page

    # A bad rule is refused with a Chinese message and saves nothing.
    response = client.post(
        "/admin/retentionrule/new/",
        data={"name": "错误规则", "outcome": "any", "years": "200", "is_active": "y"},
    )
    assert "数值应在 0 到 100 之间" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(RetentionRule.id))) == 1

    # The case list filters by retention.
    listed = client.get("/admin/case/?flt0_retain_until=retained").get_data(as_text=True)
    assert case.number in listed


def test_kept_letters_count_from_the_end_of_their_year(staff, create_case):
    registrar = staff["registrar"]
    case = kept_case(create_case, registrar, year=2024)
    # 政府信访: 存信 0 years from 31 December of the pack's year.
    assert case.retention_from == date(2024, 12, 31)
    assert case.retain_until == date(2024, 12, 31)
    assert case.kept_at is not None


@pytest.mark.own_connections
def test_callback_records_show_five_years(staff, create_case, client, login_as):
    case = create_case(by=staff["office"])
    made = utcnow() - timedelta(days=10)
    callback = Callback(case_id=case.id, note="回访", created_at=made, done_at=made)
    db.session.add(callback)
    db.session.commit()
    login_as(staff["office"])
    page = client.get("/admin/callback/").get_data(as_text=True)
    until = add_years((made + timedelta(hours=8)).date(), 5).isoformat()
    assert "保存期至" in page and until in page
    export = client.get("/admin/callback/export/csv/")
    assert export.status_code == 200 and until in export.get_data(as_text=True)


def test_every_preset_has_retention_rules_and_they_travel_in_the_configuration(staff):
    for name, preset in PRESETS.items():
        assert preset["retention_rules"], name
    enterprise = {rule["years"] for rule in PRESETS["enterprise"]["retention_rules"]}
    assert enterprise == {5}  # S9: records kept 5 years
    exported = export_configuration()["sections"]["retention_rules"]
    assert {item["name"] for item in exported} == {
        rule["name"] for rule in PRESETS["government"]["retention_rules"]
    }


# --- the 存信 register -------------------------------------------------------------------------


def test_kept_register_is_grouped_and_filtered_by_region_and_year(
    staff, create_case, client, login_as
):
    office = staff["office"]
    first = kept_case(create_case, office, region="城关镇", year=2024, subject="城关一")
    second = kept_case(create_case, office, region="城关镇", year=2024, subject="城关二")
    third = kept_case(create_case, office, region="河西乡", year=2025, subject="河西一")
    create_case(by=office, subject="未存信的事项")

    login_as(office)
    page = client.get("/admin/keptletters/").get_data(as_text=True)
    groups = page.split("kept-groups")[1].split("</table>")[0]
    assert "城关镇" in groups and "河西乡" in groups
    assert ">2</td>" in groups and ">1</td>" in groups
    assert "未存信的事项" not in page

    page = client.get("/admin/keptletters/?year=2024&region=城关镇").get_data(as_text=True)
    listed = page.split("kept-cases")[1]
    assert first.number in listed and second.number in listed
    assert third.number not in listed

    # A department head sees only the kept letters of cases they may see: none here.
    login_as(staff["head"])
    page = client.get("/admin/keptletters/").get_data(as_text=True)
    assert first.number not in page and "没有存信" in page

    login_as(office)
    response = client.get("/admin/keptletters/pdf/?year=2024&region=城关镇")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    words = pdf_words(response.data)
    assert "存信登记簿" in words
    assert first.number in words and second.number in words and third.number not in words
    assert "城关镇" in words and "2024" in words


# --- destruction -------------------------------------------------------------------------------


def _text_columns():
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, sa.String | sa.Text | sa.JSON) and not getattr(
                column.type, "enum_class", None
            ):
                yield table, column


def marker_hits(marker: str = MARKER) -> list[str]:
    """Every table.column in the database whose text still contains ``marker``."""
    hits = []
    for table, column in _text_columns():
        found = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(table)
            .where(sa.cast(column, sa.Text).like(f"%{marker}%"))
        )
        if found:
            hits.append(f"{table.name}.{column.name}")
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, sa.LargeBinary):
                for (value,) in db.session.execute(sa.select(column)):
                    if value and marker.encode() in bytes(value):
                        hits.append(f"{table.name}.{column.name}")
    return hits


def _full_case(create_case, staff, *, marker=MARKER, shared_party=None) -> tuple[Case, dict]:
    """A kept case carrying ``marker`` in every kind of record a case can have."""
    office = staff["office"]
    own = Party(name=f"张{marker}", phone="13800000000", address=f"{marker}路1号", id_number="")
    db.session.add(own)
    db.session.flush()
    petitioners = [own] + ([shared_party] if shared_party else [])
    case = create_case(
        by=office,
        petitioners=petitioners,
        subject=f"事由{marker}",
        content=f"内容{marker}",
        demands=f"诉求{marker}",
        custom_values={"note": f"自定义{marker}"},
    )
    representative = Party(name=f"代表{marker}", phone="13700000000", id_number="")
    db.session.add(representative)
    db.session.flush()
    db.session.add(CaseRepresentative(case_id=case.id, party_id=representative.id, position=1))
    db.session.add(
        Commendation(
            party_id=own.id,
            case_id=case.id,
            text=f"表扬{marker}",
            commended_on=today(),
            created_at=utcnow(),
        )
    )
    case.result_signer_name = f"签字{marker}"
    case.out_of_scope_reason = f"不属职责{marker}"
    now = utcnow()
    letter = Letter(
        case_id=case.id,
        writer_id=own.id,
        received_at=now - timedelta(hours=1),
        summary=f"来信{marker}",
        sender_email=f"{marker}@example.com",
    )
    visit = Visit(
        case_id=case.id,
        visitor_id=own.id,
        visited_at=now - timedelta(hours=1),
        purpose=f"来访{marker}",
        interview_record=f"谈话{marker}",
        answer=f"答复{marker}",
    )
    call = Call(
        case_id=case.id,
        caller_id=own.id,
        called_at=now - timedelta(hours=1),
        record=f"来电{marker}",
        caller_number="13900000000",
    )
    db.session.add_all([letter, visit, call])
    db.session.flush()
    attachment = store_attachment(
        Attachment(case=case, kind=AttachmentKind.document, title=f"附件{marker}"),
        filename=f"{marker}.txt",
        data=f"附件内容{marker}".encode(),
        by=office,
    )
    old = now - timedelta(days=365 * 6)
    callback = Callback(
        case_id=case.id,
        person_reached=f"张{marker}",
        opinion=f"满意{marker}",
        note=f"备注{marker}",
        created_at=old,
        done_at=old,
    )
    db.session.add(callback)
    db.session.flush()
    db.session.add_all(
        [
            CaseReply(
                case_id=case.id,
                kind=ReplyKind.formal,
                recipient=f"张{marker}",
                method=ReplyMethod.letter,
                replied_at=now,
                text=f"答复意见{marker}",
            ),
            OutgoingContact(
                case_id=case.id,
                method=ContactMethod.phone,
                contacted_at=now,
                person=f"张{marker}",
                summary=f"联系{marker}",
            ),
            RectificationOrder(
                case_id=case.id,
                callback_id=callback.id,
                source=RectificationSource.callback,
                addressee="县住房和城乡建设局",
                content=f"整改{marker}",
                due_on=today(),
            ),
            Appointment(
                case_id=case.id,
                party_id=own.id,
                kind=AppointmentKind.appointment,
                visitor_name=f"张{marker}",
                expected_at=now,
                purpose=f"预约{marker}",
            ),
            Notification(user_id=office.id, case_id=case.id, message=f"提醒{marker}"),
            IssuedDocument(
                case_id=case.id,
                kind="acceptance_notice",
                title=f"告知书{marker}",
                number="县信访告字〔2026〕1号",
                issued_on=today(),
                issued_at=now,
                pdf=f"%PDF {marker}".encode(),
                size=10,
                sha256=hashlib.sha256(marker.encode()).hexdigest(),
            ),
        ]
    )
    db.session.add(
        CaseClock(
            case_id=case.id,
            kind=Clock.handling,
            started_at=now,
            amount=5,
            unit=TimeUnit.working_days,
            due_at=now + timedelta(days=7),
            pending_reason=f"延期理由{marker}",
        )
    )
    db.session.commit()
    keep(case, by=office, region="城关镇", year=2020, note=f"存信说明{marker}")
    db.session.commit()
    return fresh(case), {"party": own.id, "file": attachment_root() / attachment.stored_name}


def test_a_batch_erases_content_and_personal_data_everywhere_and_keeps_a_tombstone(
    staff, create_case, client, login_as
):
    shared = Party(name="李共同", phone="13700000000")
    db.session.add(shared)
    db.session.commit()
    other = create_case(by=staff["office"], petitioners=[shared], subject="另一事项")
    case, parts = _full_case(create_case, staff, shared_party=shared)
    assert parts["file"].exists()
    assert set(marker_hits()) >= {"cases.subject", "letters.summary", "audit_log.data"}

    login_as(staff["admin"])
    response = client.post(
        "/admin/keptletters/destroy/",
        data={"mode": "criteria", "year": "2020", "region": "城关镇", "note": "2020年第一批"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)[-1500:]

    leftovers = db.session.execute(
        sa.select(AuditEntry.action, AuditEntry.target_type, AuditEntry.summary).where(
            sa.or_(
                AuditEntry.summary.like(f"%{MARKER}%"),
                sa.cast(AuditEntry.data, sa.Text).like(f"%{MARKER}%"),
            )
        )
    ).all()
    assert leftovers == []
    assert marker_hits() == []
    assert not parts["file"].exists()
    assert db.session.get(Party, parts["party"]) is None
    # The person shared with a live case stays, and stays on it.
    assert db.session.get(Party, shared.id).name == "李共同"
    assert [p.id for p in fresh(other).petitioners] == [shared.id]

    case = fresh(case)
    batch = db.session.scalars(sa.select(DestructionBatch)).one()
    assert (case.status, case.kept_region, case.kept_year) == (CaseStatus.destroyed, "城关镇", 2020)
    assert case.destruction_batch_id == batch.id and case.destroyed_by_id == staff["admin"].id
    assert (batch.kept_year, batch.kept_region, batch.case_count) == (2020, "城关镇", 1)
    assert batch.created_by_id == staff["admin"].id and batch.note == "2020年第一批"
    for model in (Letter, Visit, Call, Attachment, CaseReply, OutgoingContact, Notification):
        assert not db.session.scalar(
            sa.select(sa.func.count()).select_from(model).where(model.case_id == case.id)
        )
    # The audit log keeps that it happened.
    assert db.session.scalar(
        sa.select(sa.func.count(AuditEntry.id)).where(AuditEntry.action == "destroy")
    )

    page = client.get(f"/admin/case/details/?id={case.id}").get_data(as_text=True)
    assert "tombstone" in page and case.number in page and batch.number in page
    assert "城关镇" in page and "2020" in page and MARKER not in page
    assert "登记重复来信" not in page


def test_records_under_retention_refuse_the_whole_batch_and_change_nothing(
    staff, create_case, client, login_as
):
    office = staff["office"]
    ready = kept_case(create_case, office, year=2020, subject="可销毁的存信")
    recent = kept_case(create_case, office, year=2020, subject="有回访的存信")
    db.session.add(Callback(case_id=recent.id, note="近期回访"))
    # This office keeps its 存信 five years after the pack's year.
    db.session.execute(
        sa.update(RetentionRule)
        .where(RetentionRule.outcome == RetentionOutcome.kept)
        .values(years=5)
    )
    db.session.commit()
    fresh_year = today().year - 1
    young = kept_case(create_case, office, year=fresh_year, subject="未满期的存信")
    assert young.retain_until > today()

    before = row_counts()
    login_as(staff["admin"])
    response = client.post(
        "/admin/keptletters/destroy/",
        data={"mode": "selected", "case_id": [ready.id, recent.id, young.id]},
    )
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "本批未销毁任何事项" in text
    assert recent.number in text and "回访记录" in text
    assert young.number in text and "未到期不能销毁" in text
    db.session.expire_all()
    assert row_counts() == before
    assert fresh(ready).status == CaseStatus.kept and fresh(ready).subject == "可销毁的存信"

    # The single-case step asks the same rule.
    with pytest.raises(InvalidTransition, match="回访记录"):
        destroy(fresh(recent), by=staff["admin"])
    db.session.rollback()


def test_nothing_can_be_added_to_a_destroyed_case(staff, create_case, client, login_as):
    office, admin = staff["office"], staff["admin"]
    case = kept_case(create_case, office, year=2020)
    destroy_batch([case], by=admin)
    db.session.commit()
    case = fresh(case)
    before = row_counts()
    with pytest.raises(ValidationFailed, match="已销毁"):
        register_contact(Letter(received_at=utcnow(), summary="重复来信"), by=office, case=case)
    db.session.rollback()
    with pytest.raises(ValidationFailed, match="已销毁"):
        store_attachment(
            Attachment(case=fresh(case), kind=AttachmentKind.document),
            filename="a.txt",
            data=b"x",
            by=office,
        )
    db.session.rollback()
    case = fresh(case)
    case.subject = "改回原来的事由"
    with pytest.raises(ValidationFailed, match="已销毁"):
        record_case_edit(case, by=office)
    db.session.rollback()
    with pytest.raises(ValidationFailed, match="已销毁"):
        record_callback(Callback(case=fresh(case), note="回访"), by=office)
    db.session.rollback()
    assert available_steps(fresh(case), admin) == []
    # Through the browser: a repeat letter on the destroyed case is refused, not saved.
    login_as(office)
    response = client.post(
        f"/admin/letter/new/?case_id={case.id}",
        data={"case": str(case.id), "received_at": "2026-01-05 09:00", "summary": "重复来信"},
    )
    assert response.status_code in (200, 302, 400)
    db.session.expire_all()
    assert row_counts() == before


def test_the_destruction_register_prints_who_when_and_which(staff, create_case, client, login_as):
    office, admin = staff["office"], staff["admin"]
    first = kept_case(create_case, office, region="城关镇", year=2020)
    second = kept_case(create_case, office, region="城关镇", year=2020)
    batch = destroy_batch(
        *select_cases(admin, year="2020", region="城关镇")[:1], by=admin, year=2020, region="城关镇"
    )
    db.session.commit()
    login_as(admin)
    listing = client.get("/admin/destructionbatch/").get_data(as_text=True)
    assert batch.number in listing
    details = client.get(f"/admin/destructionbatch/details/?id={batch.id}")
    assert first.number in details.get_data(as_text=True)
    response = client.get("/admin/destructionbatch/print/")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    words = pdf_words(response.data)
    assert "存信销毁登记簿" in words
    assert batch.number in words and first.number in words and second.number in words
    assert "城关镇" in words and admin.full_name in words
    one = client.get(f"/admin/destructionbatch/print/?id={batch.id}")
    assert batch.number in pdf_words(one.data)


# --- permissions and bad input -----------------------------------------------------------------


def _allowed(role: str, *permissions: str) -> bool:
    return any(name in DEFAULT_ROLES[role][1] for name in permissions)


@pytest.mark.parametrize(
    "role", ["admin", "office", "registrar", "leader", "dept_head", "handler", "supervisor"]
)
def test_permission_matrix(app, government, create_user, create_case, client, login_as, role):
    user = create_user(role)
    office = create_user("office")
    case = kept_case(create_case, office, year=2020)
    login_as(user)
    checks = [
        ("get", "/admin/keptletters/", _allowed(role, "case.view")),
        ("get", "/admin/keptletters/pdf/", _allowed(role, "register.print")),
        ("get", "/admin/destructionbatch/", _allowed(role, "retention.destroy", "register.print")),
        (
            "get",
            "/admin/destructionbatch/print/",
            _allowed(role, "retention.destroy", "register.print"),
        ),
        ("get", "/admin/retentionrule/", _allowed(role, "settings.manage")),
    ]
    for method, url, allowed in checks:
        response = getattr(client, method)(url)
        assert response.status_code == (200 if allowed else 403), (role, url)
    before = row_counts()
    del before["audit_log"]  # a refusal is itself audited
    response = client.post(
        "/admin/keptletters/destroy/", data={"mode": "selected", "case_id": [case.id]}
    )
    if _allowed(role, "retention.destroy"):
        assert response.status_code == 302
        assert fresh(case).status == CaseStatus.destroyed
    else:
        assert response.status_code == 403
        db.session.expire_all()
        after = row_counts()
        del after["audit_log"]
        assert after == before


def test_signed_out_users_are_sent_to_the_login(app, client):
    for url in ("/admin/keptletters/", "/admin/destructionbatch/", "/admin/retentionrule/"):
        response = client.get(url)
        assert response.status_code == 302 and "login" in response.headers["Location"]


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"mode": "criteria", "year": "abc", "region": "城关镇"}, "请填写有效的存信年份"),
        ({"mode": "criteria", "year": "2019", "region": "无此地"}, "没有2019年“无此地”的存信"),
        ({"mode": "criteria", "year": "2020", "region": ""}, "请选择要销毁的存信地区"),
        ({"mode": "criteria", "year": "", "region": "城关镇"}, "请选择要销毁的存信年份"),
        ({"mode": "selected"}, "请勾选要销毁的存信"),
        ({"mode": "selected", "case_id": ["x"]}, "所选事项无效"),
        ({"mode": "selected", "case_id": ["999999"]}, "请刷新列表后重选"),
    ],
)
def test_bad_input_gets_a_chinese_message_and_changes_nothing(
    staff, create_case, client, login_as, form, message
):
    kept_case(create_case, staff["office"], year=2020)
    before = row_counts()
    login_as(staff["admin"])
    response = client.post("/admin/keptletters/destroy/", data=form)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    db.session.expire_all()
    assert row_counts() == before


def test_case_list_action_destroys_the_ticked_kept_letters(staff, create_case, client, login_as):
    case = kept_case(create_case, staff["office"], year=2020)
    login_as(staff["admin"])
    response = client.post(
        "/admin/case/action/", data={"action": "destroy", "rowid": [str(case.id)]}
    )
    assert response.status_code == 302
    assert fresh(case).status == CaseStatus.destroyed
    assert Path(attachment_root()).exists()


def test_refresh_command_recomputes_the_dates(app, staff, create_case):
    case = kept_case(create_case, staff["office"], year=2020)
    db.session.execute(
        sa.update(RetentionRule)
        .where(RetentionRule.outcome == RetentionOutcome.kept)
        .values(years=3)
    )
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["refresh-retention"])
    assert result.exit_code == 0 and "1 件事项有变化" in result.output
    assert fresh(case).retain_until == date(2023, 12, 31)


def test_the_register_form_hands_the_retention_registers_to_their_screens(staff, client, login_as):
    login_as(staff["office"])
    for kind, target in (
        ("kept_letters", "/admin/keptletters/pdf/"),
        ("destructions", "/admin/destructionbatch/print/"),
    ):
        response = client.post(
            "/admin/registers/", data={"kind": kind, "start": "2026-01-01", "end": "2026-01-31"}
        )
        assert response.status_code == 302 and response.headers["Location"].endswith(target)
