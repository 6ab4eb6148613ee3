"""Storing and removing attachment files under the instance folder."""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _

from .. import db
from ..attachments import Attachment
from ..base import to_local, utcnow
from ..enums import EventKind
from ..files import remove_file, write_new_file
from ..settings import SystemSetting
from . import ValidationFailed
from .audit import log_event
from .guards import ensure_accepts_additions, ensure_case_visible, ensure_permission

logger = logging.getLogger(__name__)

#: extension -> (content type, magic-byte prefixes that the file must start with; () = text)
ALLOWED_TYPES: dict[str, tuple[str, tuple[bytes, ...]]] = {
    "pdf": ("application/pdf", (b"%PDF-",)),
    "jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    "gif": ("image/gif", (b"GIF87a", b"GIF89a")),
    "tif": ("image/tiff", (b"II*\x00", b"MM\x00*")),
    "tiff": ("image/tiff", (b"II*\x00", b"MM\x00*")),
    "doc": ("application/msword", (b"\xd0\xcf\x11\xe0",)),
    "xls": ("application/vnd.ms-excel", (b"\xd0\xcf\x11\xe0",)),
    "docx": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        (b"PK\x03\x04",),
    ),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", (b"PK\x03\x04",)),
    "ofd": ("application/ofd", (b"PK\x03\x04",)),
    "txt": ("text/plain", ()),
}


def attachment_root() -> Path:
    return Path(current_app.config["ATTACHMENT_FOLDER"])


def max_attachment_bytes() -> int:
    try:
        return int(SystemSetting.get("attachment_max_mb")) * 1024 * 1024
    except ValueError:
        return 20 * 1024 * 1024


def check_upload(filename: str, data: bytes) -> tuple[str, str]:
    """Return ``(extension, content type)`` or raise ``ValidationFailed`` with the reason."""
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension not in ALLOWED_TYPES:
        allowed = "、".join(sorted(ALLOWED_TYPES))
        raise ValidationFailed(
            _("不允许上传此类型的文件，允许的类型：%(types)s", types=allowed), field="file"
        )
    if not data:
        raise ValidationFailed(_("文件为空"), field="file")
    limit = max_attachment_bytes()
    if len(data) > limit:
        raise ValidationFailed(
            _("文件超过 %(megabytes)s MB 的大小上限", megabytes=limit // (1024 * 1024)),
            field="file",
        )
    content_type, magics = ALLOWED_TYPES[extension]
    if magics and not any(data.startswith(magic) for magic in magics):
        raise ValidationFailed(_("文件内容与扩展名不符，请确认文件没有损坏或被改名"), field="file")
    if not magics:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            try:
                data.decode("gb18030")
            except UnicodeDecodeError as exc:
                raise ValidationFailed(
                    _("文本文件须为 UTF-8 或 GB18030 编码"), field="file"
                ) from exc
    return extension, content_type


def store_attachment(attachment: Attachment, *, filename: str, data: bytes, by) -> Attachment:
    """Validate and write the file, then record the attachment on its case.

    The file is written whole (or not at all, with a Chinese message when the disk is full or
    read-only) before the row is flushed, and removed again if the flush fails. If the request
    rolls back later, an orphan file may remain on disk, which is harmless (it is never served
    without its row).
    """
    ensure_permission(by, "attachment.manage")
    ensure_case_visible(attachment.case, by)
    ensure_accepts_additions(attachment.case)
    if attachment.letter is not None and attachment.letter.case_id != attachment.case.id:
        raise ValidationFailed(_("所选来信不属于该事项"), field="letter")
    if attachment.visit is not None and attachment.visit.case_id != attachment.case.id:
        raise ValidationFailed(_("所选来访不属于该事项"), field="visit")
    extension, content_type = check_upload(filename, data)
    now = to_local(utcnow())
    stored_name = f"{now:%Y/%m}/{secrets.token_hex(16)}.{extension}"
    path = attachment_root() / stored_name
    write_new_file(path, data)
    attachment.original_name = os.path.basename(filename)[:255] or f"file.{extension}"
    attachment.stored_name = stored_name
    attachment.content_type = content_type
    attachment.size = len(data)
    attachment.sha256 = hashlib.sha256(data).hexdigest()
    attachment.created_by_id = by.id
    db.session.add(attachment)
    try:
        db.session.flush()
    except Exception:
        remove_file(path)
        raise
    log_event(
        attachment.case,
        EventKind.attachment_added,
        f"Attachment {attachment.id} added",
        by=by,
        data={"name": attachment.original_name, "size": attachment.size},
    )
    return attachment


def delete_attachment(attachment: Attachment, *, by) -> None:
    """Hide an attachment; the file stays on disk for the archive."""
    ensure_permission(by, "attachment.manage")
    attachment.mark_deleted(by)
    log_event(
        attachment.case,
        EventKind.attachment_removed,
        f"Attachment {attachment.id} deleted",
        by=by,
        data={"name": attachment.original_name},
    )
