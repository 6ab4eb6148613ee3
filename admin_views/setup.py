"""设置 → 初始设置 (the set-up wizard), 配置导出/导入 and 称谓 (the organisation's words)."""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa
from flask import Response, abort, current_app, flash, redirect, request, session, url_for
from flask_admin import BaseView, expose
from flask_babel import gettext as _
from flask_login import current_user

from models import Case, db
from models.files import StorageFailed, storage_message, write_new_file
from models.maintenance.configuration import (
    MAX_FILE_BYTES,
    diff_configuration,
    export_for,
    import_configuration,
    parse_configuration,
    save_vocabulary,
)
from models.maintenance.presets import is_set_up, preset_choices, set_up_organisation
from models.operations import NotPermitted, ValidationFailed, WorkflowError
from models.settings import SystemSetting
from models.vocabulary import STANDARD_WORDS, current_vocabulary

from .base import refuse_access

#: The session key naming the uploaded file waiting for confirmation (its SHA-256).
PENDING_UPLOAD = "config_upload"
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def is_administrator(user) -> bool:
    return (
        user.is_authenticated
        and user.has_permission("settings.manage")
        and user.has_permission("user.manage")
    )


def needs_setup(user) -> bool:
    """An administrator signing in to a database whose organisation is not set up yet."""
    return is_administrator(user) and not is_set_up()


class _AdministratorView(BaseView):
    def is_accessible(self):
        return is_administrator(current_user)

    def inaccessible_callback(self, name, **kwargs):
        return refuse_access()


def _has_cases() -> bool:
    # EXISTS stops at the first row; a count read all of them (0.2 s at a million cases).
    return bool(db.session.scalar(sa.select(sa.exists().where(Case.id.is_not(None)))))


class SetupView(_AdministratorView):
    """``/admin/setup/``: choose one of the four presets and the organisation's name."""

    @expose("/", methods=("GET", "POST"))
    def index(self):
        chosen = request.form.get("preset", "")
        organisation_name = request.form.get(
            "organisation_name", "" if not is_set_up() else SystemSetting.get("organisation_name")
        )
        errors: dict[str, str] = {}
        if request.method == "POST":
            try:
                set_up_organisation(chosen, organisation_name, by=current_user)
                db.session.commit()
            except NotPermitted:
                db.session.rollback()
                abort(403)
            except ValidationFailed as error:
                db.session.rollback()
                errors[error.field or "form"] = str(error)
            else:
                flash(
                    _("初始设置已完成：已按所选预设建立单位、角色、分类、时限规则和文书措辞。"),
                    "success",
                )
                return redirect(url_for("admin.index"))
        return self.render(
            "admin/setup/wizard.html",
            presets=preset_choices(),
            chosen=chosen,
            organisation_name=organisation_name,
            errors=errors,
            has_cases=_has_cases(),
        )


#: Uploads never confirmed are removed after this many seconds.
UPLOAD_LIFETIME = 24 * 3600


def _upload_folder() -> Path:
    folder = Path(current_app.instance_path) / "configuration_uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _remove_old_uploads(folder: Path) -> None:
    limit = time.time() - UPLOAD_LIFETIME
    for path in folder.glob("*.json"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < limit:
                path.unlink()


class ConfigurationView(_AdministratorView):
    """``/admin/configuration/``: download the configuration; upload one, see what it would
    change, confirm. The upload waits on the server under its SHA-256, named in the signed
    session, so the confirmed file is exactly the one whose changes were shown."""

    @expose("/")
    def index(self):
        return self.render("admin/setup/configuration.html", changes=None)

    @expose("/download")
    def download_view(self):
        try:
            text = export_for(current_user)
        except NotPermitted:
            abort(403)
        db.session.commit()
        name = f"{SystemSetting.get('organisation_name')}-配置.json"
        response = Response(text, mimetype="application/json; charset=utf-8")
        response.headers["Content-Disposition"] = (
            f"attachment; filename=configuration.json; filename*=UTF-8''{quote(name)}"
        )
        response.headers["Cache-Control"] = "private, no-store"
        return response

    @expose("/upload", methods=("POST",))
    def upload_view(self):
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            flash(_("请选择要导入的配置文件"), "error")
            return redirect(url_for(".index"))
        raw = upload.read(MAX_FILE_BYTES + 1)
        try:
            data = parse_configuration(raw)
            changes = diff_configuration(data)
        except ValidationFailed as error:
            db.session.rollback()
            flash(str(error), "error")
            return redirect(url_for(".index"))
        digest = hashlib.sha256(raw).hexdigest()
        try:
            folder = _upload_folder()
            _remove_old_uploads(folder)
            target = folder / f"{digest}.json"
            if not target.exists():
                write_new_file(target, raw, mode=0o600)
        except OSError as error:
            flash(storage_message(error), "error")
            return redirect(url_for(".index"))
        except StorageFailed as error:
            flash(str(error), "error")
            return redirect(url_for(".index"))
        session[PENDING_UPLOAD] = digest
        return self.render(
            "admin/setup/configuration.html",
            changes=changes,
            digest=digest,
            filename=upload.filename,
            nothing_changes=not any(c["added"] or c["changed"] or c["removed"] for c in changes),
        )

    @expose("/apply", methods=("POST",))
    def apply_view(self):
        digest = request.form.get("digest", "")
        if not _DIGEST.match(digest) or session.get(PENDING_UPLOAD) != digest:
            flash(_("待导入的文件已失效，请重新上传"), "error")
            return redirect(url_for(".index"))
        path = _upload_folder() / f"{digest}.json"
        try:
            raw = path.read_bytes()
        except OSError:
            raw = b""
        if hashlib.sha256(raw).hexdigest() != digest:
            flash(_("待导入的文件已失效，请重新上传"), "error")
            return redirect(url_for(".index"))
        try:
            changes = import_configuration(parse_configuration(raw), by=current_user)
            db.session.commit()
        except NotPermitted:
            db.session.rollback()
            abort(403)
        except WorkflowError as error:
            db.session.rollback()
            flash(str(error), "error")
            return redirect(url_for(".index"))
        session.pop(PENDING_UPLOAD, None)
        path.unlink(missing_ok=True)
        parts = [
            _(
                "%(title)s 新增 %(added)s、修改 %(changed)s、移除 %(removed)s",
                title=c["title"],
                added=len(c["added"]),
                changed=len(c["changed"]),
                removed=len(c["removed"]),
            )
            for c in changes
        ]
        flash(_("配置已导入：%(summary)s", summary="；".join(parts)), "success")
        return redirect(url_for(".index"))


class VocabularyView(BaseView):
    """``/admin/vocabulary/``: the organisation's words for the standard ones."""

    def is_accessible(self):
        return current_user.is_authenticated and current_user.has_permission("settings.manage")

    def inaccessible_callback(self, name, **kwargs):
        return refuse_access()

    @expose("/", methods=("GET", "POST"))
    def index(self):
        words = current_vocabulary()
        error = None
        if request.method == "POST":
            words = {standard: request.form.get(standard, "") for standard in STANDARD_WORDS}
            try:
                save_vocabulary(words, by=current_user)
                db.session.commit()
            except NotPermitted:
                db.session.rollback()
                abort(403)
            except ValidationFailed as failure:
                db.session.rollback()
                error = str(failure)
            else:
                flash(_("称谓已保存，页面和文书将使用新的称谓。"), "success")
                return redirect(url_for(".index"))
        return self.render(
            "admin/setup/vocabulary.html",
            standard_words=STANDARD_WORDS,
            words=words,
            error=error,
        )
