"""网上信访 and 进度查询: the pages the public uses, outside the admin, nobody signed in.

The form reuses the admin registration's fields and checks (``admin_views.registration``) and
files through the service layer (``models.operations.portal``). Abuse limits: rate limits per
client address and per phone, a signed arithmetic question, a honeypot input, size limits.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from io import BytesIO

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    MultipleFileField,
    RadioField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Length, Optional

from admin_views.registration import check_new_case_inputs, new_case_and_person_fields
from models import Case, Category, IssuedDocument, SystemSetting, db
from models.enums import Satisfaction
from models.operations import WorkflowError
from models.operations.attachments import max_attachment_bytes
from models.operations.audit_log import record_audit
from models.operations.portal import (
    Upload,
    display_code,
    file_online_petition,
    find_petition,
    petitioner_documents,
    public_progress,
    rate_reply,
)
from models.policies import CONFIDENTIAL_KINDS, is_confidential_category
from models.texts import lazy_gettext as _l

from .limits import client_address, hit

logger = logging.getLogger(__name__)

bp = Blueprint("petition", __name__, url_prefix="/petition")

#: Audit actions of the public pages (``audit_log.action``).
LOOKUP = "portal_lookup"
LOOKUP_FAILED = "portal_lookup_failed"
DOCUMENT_DOWNLOAD = "portal_download"

#: Session keys: the pending arithmetic question, and the case a lookup opened (with when).
CHALLENGE_KEY = "portal_challenge"
OPENED_KEY = "portal_case"

#: Inputs the public fills in, taken from the admin registration form.
SHARED_FIELDS = (
    "new_category",
    "new_subject",
    "new_content",
    "new_demands",
    "new_person_name",
    "new_person_phone",
    "new_person_id_type",
    "new_person_id_number",
)
PERSON_FIELDS = (
    "new_person_name",
    "new_person_phone",
    "new_person_id_type",
    "new_person_id_number",
)

WRONG_PAIR = _l("事项编号或查询码不正确，请核对后重新输入。")
REFUSED = _l("提交未通过验证，请刷新页面后重新填写。")


def _petition_form_class():
    shared = new_case_and_person_fields()

    class PetitionForm(FlaskForm):
        is_anonymous = BooleanField(
            _l("匿名反映"),
            description=_l("匿名反映不留姓名和联系方式，我们将依法处理，但无法向您答复。"),
        )
        attachments = MultipleFileField(_l("证明材料（可选）"))
        challenge = StringField(
            _l("验证问题"),
            [Length(max=10)],
            render_kw={"inputmode": "numeric", "autocomplete": "off"},
        )
        #: Honeypot: hidden from people by the stylesheet; robots fill it in.
        website = StringField(
            _l("请勿填写此项"), render_kw={"tabindex": "-1", "autocomplete": "off"}
        )

    for name in SHARED_FIELDS:
        setattr(PetitionForm, name, shared[name])
    return PetitionForm


class LookupForm(FlaskForm):
    number = StringField(_l("事项编号"), [Length(max=40)], render_kw={"autocomplete": "off"})
    code = StringField(_l("查询码"), [Length(max=40)], render_kw={"autocomplete": "off"})


class RatingForm(FlaskForm):
    satisfaction = RadioField(_l("您对答复的评价"), choices=Satisfaction.choices())
    opinion = TextAreaField(_l("意见或建议（可选）"), [Optional(), Length(max=500)])


# -- the arithmetic question ------------------------------------------------------------------


def _challenge_digest(nonce: str, answer: int) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, f"{nonce}:{answer}".encode(), hashlib.sha256).hexdigest()


def new_challenge() -> str:
    """Put a fresh question in the session (only a keyed digest of its answer) and word it."""
    first, second = secrets.randbelow(9) + 1, secrets.randbelow(9) + 1
    nonce = secrets.token_hex(8)
    session[CHALLENGE_KEY] = {"nonce": nonce, "digest": _challenge_digest(nonce, first + second)}
    return _("%(first)s 加 %(second)s 等于多少？", first=first, second=second)


def challenge_passed(answer) -> bool:
    """One try per question: the question is used up whatever the answer."""
    pending = session.pop(CHALLENGE_KEY, None)
    answer = (answer or "").strip()
    if not pending or not answer.isdigit() or len(answer) > 3:
        return False
    expected = _challenge_digest(pending.get("nonce", ""), int(answer))
    return hmac.compare_digest(expected, pending.get("digest", ""))


# -- helpers -------------------------------------------------------------------------------------


def _categories(report: bool):
    query = Category.query.filter(Category.is_active.is_(True))
    if report:
        query = query.filter(Category.kind.in_(CONFIDENTIAL_KINDS))
    return query.order_by(Category.sort_order, Category.id)


def _too_many(wait: int):
    response = make_response(
        render_template(
            "public/message.html",
            title=_("提交过于频繁"),
            message=_("提交过于频繁，请在 %(minutes)s 分钟后再试。", minutes=max(1, wait // 60)),
        ),
        429,
    )
    response.headers["Retry-After"] = str(wait)
    return response


def _organisation() -> str:
    return SystemSetting.get("organisation_name")


@bp.context_processor
def _organisation_name():
    return {"organisation": _organisation()}


@bp.after_request
def _no_store(response):
    # Codes, numbers and personal details must stay out of shared caches and history.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(413)
def _too_large(error):
    return (
        render_template(
            "public/message.html",
            title=_("材料太大"),
            message=_(
                "提交的材料合计超过 %(megabytes)s MB，请减少或压缩后重新提交。",
                megabytes=_request_limit() // (1024 * 1024),
            ),
        ),
        413,
    )


def _request_limit() -> int:
    return current_app.config["PORTAL_MAX_FILES"] * max_attachment_bytes() + 1024 * 1024


# -- pages ------------------------------------------------------------------------------------


@bp.route("/")
def index():
    return render_template("public/index.html")


@bp.route("/new", methods=["GET", "POST"])
def new_petition():
    return _petition_page(report=False)


@bp.route("/report", methods=["GET", "POST"])
def new_report():
    return _petition_page(report=True)


def _petition_page(*, report: bool):
    if request.method == "POST" and (request.content_length or 0) > _request_limit():
        abort(413)
    form = _petition_form_class()()
    offered = _categories(report).all()
    if report and not offered:
        # No 举报 category is set up: every active category is offered.
        offered = _categories(False).all()
    form.new_category.query = offered
    if request.method == "POST":
        wait = hit("PORTAL_FILE_LIMITS", "file", client_address())
        if wait:
            return _too_many(wait)
        outcome = _try_filing(form, report=report)
        if outcome is not None:
            return outcome
    question = new_challenge()
    # A new question each time: the last answer is no answer to it.
    form.challenge.data = ""
    status = 400 if request.method == "POST" else 200
    return (
        render_template(
            "public/petition_form.html",
            form=form,
            report=report,
            question=question,
            max_files=current_app.config["PORTAL_MAX_FILES"],
            max_megabytes=max_attachment_bytes() // (1024 * 1024),
            content_max=current_app.config["PORTAL_CONTENT_MAX"],
        ),
        status,
    )


def _uploads() -> list[Upload]:
    files = [f for f in request.files.getlist("attachments") if f and f.filename]
    return [Upload(filename=f.filename, data=f.read()) for f in files]


def _try_filing(form, *, report: bool):
    """File the petition, or put the reasons on the form and return ``None``."""
    anonymous = bool(form.is_anonymous.data)
    if anonymous:
        # An anonymous petition keeps no identity at all: whatever was typed is dropped.
        for name in PERSON_FIELDS:
            form[name].data = ""
            form[name].raw_data = []
    if (form.website.data or "").strip():
        logger.warning("portal: honeypot filled from %s", client_address())
        flash(str(REFUSED), "danger")
        return None
    answered = challenge_passed(form.challenge.data)
    valid = form.validate()
    valid = check_new_case_inputs(form, person_chosen=False, new_case=True) and valid
    if not answered:
        form.challenge.errors = [*form.challenge.errors, _("验证问题回答不正确，请重新计算")]
        valid = False
    content_max = current_app.config["PORTAL_CONTENT_MAX"]
    for name in ("new_content", "new_demands"):
        if len(form[name].data or "") > content_max:
            form[name].errors = [
                *form[name].errors,
                _("内容不能超过 %(count)s 字", count=content_max),
            ]
            valid = False
    if not anonymous:
        if not (form.new_person_name.data or "").strip():
            form.new_person_name.errors = [*form.new_person_name.errors, _("请填写姓名")]
            valid = False
        if not (form.new_person_phone.data or "").strip():
            form.new_person_phone.errors = [*form.new_person_phone.errors, _("请填写联系电话")]
            valid = False
    if report and form.new_category.data is None:
        form.new_category.errors = [*form.new_category.errors, _("请选择举报类别")]
        valid = False
    uploads = _uploads()
    if len(uploads) > current_app.config["PORTAL_MAX_FILES"]:
        form.attachments.errors = [
            _("最多上传 %(count)s 个文件", count=current_app.config["PORTAL_MAX_FILES"])
        ]
        valid = False
    if not valid:
        return None
    if not anonymous:
        wait = hit("PORTAL_PHONE_LIMITS", "phone", form.new_person_phone.data)
        if wait:
            return _too_many(wait)
    case = Case(
        subject=form.new_subject.data.strip(),
        content=form.new_content.data.strip(),
        demands=(form.new_demands.data or "").strip() or None,
        category=form.new_category.data,
        is_anonymous=anonymous,
    )
    person = None
    if not anonymous:
        person = {
            "name": form.new_person_name.data.strip(),
            "phone": form.new_person_phone.data or None,
            "id_type": form.new_person_id_type.data or None,
            "id_number": form.new_person_id_number.data or None,
        }
    try:
        case, code = file_online_petition(case, person=person, uploads=uploads)
    except WorkflowError as error:
        db.session.rollback()
        field = getattr(error, "field", None)
        target = {
            "file": "attachments",
            "name": "new_person_name",
            "id_number": "new_person_id_number",
            "phone": "new_person_phone",
        }.get(field, field)
        if target in form:
            form[target].errors = [*form[target].errors, str(error)]
        else:
            flash(str(error), "danger")
        return None
    db.session.commit()
    return render_template(
        "public/petition_done.html",
        number=case.number,
        code=display_code(code),
        anonymous=anonymous,
        report=is_confidential_category(case.category),
    )


# -- progress lookup --------------------------------------------------------------------------


def _opened_case() -> Case | None:
    """The case this browser opened with its number and code, for a limited time."""
    opened = session.get(OPENED_KEY)
    if not opened or time.time() - opened.get("at", 0) > current_app.config["PORTAL_LOOKUP_TTL"]:
        session.pop(OPENED_KEY, None)
        return None
    case = db.session.get(Case, opened.get("id"))
    if case is None or case.is_deleted:
        return None
    return case


@bp.route("/lookup", methods=["GET", "POST"])
def lookup():
    form = LookupForm()
    status = 200
    if request.method == "POST":
        wait = hit("PORTAL_LOOKUP_LIMITS", "lookup", client_address())
        typed = (form.number.data or "").strip().upper()[:40]
        wait = wait or hit("PORTAL_NUMBER_LIMITS", "number", typed)
        if wait:
            return _too_many(wait)
        petition = find_petition(typed, form.code.data) if form.validate() else None
        if petition is None:
            record_audit(
                LOOKUP_FAILED,
                by=None,
                target_type="online_petitions",
                summary=f"网上进度查询未通过：{typed}"[:300],
                data={"number": typed},
            )
            db.session.commit()
            flash(str(WRONG_PAIR), "danger")
            status = 400
        else:
            record_audit(
                LOOKUP,
                petition.case,
                by=None,
                summary=f"网上进度查询：{petition.case.number}",
                data={"number": petition.case.number},
            )
            db.session.commit()
            session[OPENED_KEY] = {"id": petition.case_id, "at": int(time.time())}
            return redirect(url_for(".progress"))
    return render_template("public/lookup.html", form=form), status


@bp.route("/progress", methods=["GET", "POST"])
def progress():
    case = _opened_case()
    if case is None:
        flash(_("请输入事项编号和查询码查询办理进度。"), "info")
        return redirect(url_for(".lookup"))
    form = RatingForm()
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                rate_reply(case, form.satisfaction.data, form.opinion.data)
            except WorkflowError as error:
                db.session.rollback()
                # The form may not be on the page (not answered yet, or rated already).
                flash(str(error), "danger")
            else:
                db.session.commit()
                flash(_("感谢您的评价。"), "success")
                return redirect(url_for(".progress"))
        else:
            form.satisfaction.errors = [_("请选择满意程度")]
            flash(_("请选择满意程度"), "danger")
        status = 400
    return (
        render_template("public/progress.html", progress=public_progress(case), form=form),
        status,
    )


@bp.route("/progress/document/<int:document_id>")
def document(document_id: int):
    case = _opened_case()
    if case is None:
        abort(404)
    issued = db.session.get(IssuedDocument, document_id)
    if issued is None or issued not in petitioner_documents(case):
        abort(404)
    record_audit(
        DOCUMENT_DOWNLOAD,
        issued,
        by=None,
        summary=f"网上进度查询下载：{case.number} {issued.title}"[:300],
    )
    db.session.commit()
    return send_file(
        BytesIO(issued.pdf),
        mimetype="application/pdf",
        as_attachment=True,
        download_name=issued.filename,
    )


@bp.route("/leave", methods=["POST"])
def leave():
    session.pop(OPENED_KEY, None)
    return redirect(url_for(".lookup"))


def install_petition(app) -> None:
    app.config.setdefault("PORTAL_FILE_LIMITS", "10 per hour;30 per day")
    app.config.setdefault("PORTAL_PHONE_LIMITS", "3 per day")
    app.config.setdefault("PORTAL_LOOKUP_LIMITS", "30 per hour")
    app.config.setdefault("PORTAL_NUMBER_LIMITS", "10 per hour")
    app.config.setdefault("PORTAL_MAX_FILES", 5)
    app.config.setdefault("PORTAL_CONTENT_MAX", 5000)
    #: How long a successful lookup keeps the case open in this browser (seconds).
    app.config.setdefault("PORTAL_LOOKUP_TTL", 15 * 60)
    app.register_blueprint(bp)
