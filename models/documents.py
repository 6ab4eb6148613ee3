"""Issued documents, their editable wording, and register (台账) print jobs."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import db
from .base import UTCDateTime, utcnow
from .enums import DocumentKind, RegisterJobStatus, RegisterKind, enum_column


class IssuedDocument(db.Model):
    """One document as it was issued: its number, the PDF, who issued it and when.

    The row is written once and never changed, so a reprint hands out exactly these bytes.
    ``source_event`` is the timeline event the document reports on (the reply, the extension
    decision, the instruction …): one document per kind and event.
    """

    __tablename__ = "issued_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[DocumentKind] = mapped_column(enum_column(DocumentKind, "document_kind"))
    source_event_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("case_events.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(sa.String(200))
    #: ``机关代字〔2026〕12号``; forms without a document number carry the case number.
    number: Mapped[str] = mapped_column(sa.String(60))
    #: The issuing unit and its numbering (empty for documents that carry the case number).
    unit_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("units.id", ondelete="SET NULL"), index=True
    )
    year: Mapped[int | None] = mapped_column(sa.SmallInteger)
    seq: Mapped[int | None] = mapped_column()
    issued_on: Mapped[date] = mapped_column(sa.Date)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    issued_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    pdf: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False, deferred=True)
    size: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(sa.String(64))

    case = relationship("Case", lazy="select")
    unit = relationship("Unit", lazy="select")
    issued_by = relationship("User", lazy="select")

    __table_args__ = (
        # Gap-free numbering is per unit and year; the pair never repeats.
        sa.UniqueConstraint("unit_id", "year", "seq", name="uq_issued_documents_unit_year_seq"),
        sa.UniqueConstraint(
            "case_id", "kind", "source_event_id", name="uq_issued_documents_case_kind_event"
        ),
    )

    def __str__(self) -> str:
        return f"{self.title} {self.number}"

    @property
    def filename(self) -> str:
        return f"{self.number}-{self.kind.title}.pdf".replace("/", "-")


class DocumentTemplate(db.Model):
    """The wording of one document type as an administrator edited it (default in code)."""

    __tablename__ = "document_templates"

    kind: Mapped[DocumentKind] = mapped_column(
        enum_column(DocumentKind, "document_template_kind"), primary_key=True
    )
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False
    )
    updated_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )

    updated_by = relationship("User", lazy="select")

    def __str__(self) -> str:
        return self.kind.title


class RegisterJob(db.Model):
    """A register print request: rendered in the request, on RQ, or in a local thread."""

    __tablename__ = "register_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[RegisterKind] = mapped_column(enum_column(RegisterKind, "register_kind"))
    #: The form's choices: date range, unit, category (ids and ISO dates).
    params: Mapped[dict] = mapped_column(sa.JSON, default=dict, nullable=False)
    status: Mapped[RegisterJobStatus] = mapped_column(
        enum_column(RegisterJobStatus, "register_job_status"),
        default=RegisterJobStatus.queued,
        index=True,
    )
    #: 0–100.
    progress: Mapped[int] = mapped_column(sa.SmallInteger, default=0, nullable=False)
    row_count: Mapped[int | None] = mapped_column()
    page_count: Mapped[int | None] = mapped_column()
    message: Mapped[str | None] = mapped_column(sa.String(300))
    #: ``rq`` or ``thread`` or ``inline``.
    runner: Mapped[str] = mapped_column(sa.String(10), default="inline", nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    pdf: Mapped[bytes | None] = mapped_column(sa.LargeBinary, deferred=True)
    size: Mapped[int | None] = mapped_column()
    #: Written every few seconds while the job runs; a running job whose heartbeat is older
    #: than ``JOB_STALE_SECONDS`` lost its worker and is marked failed (issue 17).
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: 1 for the first run, +1 per retry; a run only writes the row while it is the latest.
    attempt: Mapped[int] = mapped_column(
        sa.SmallInteger, default=1, server_default="1", nullable=False
    )

    created_by = relationship("User", lazy="select")

    def __str__(self) -> str:
        return f"{self.kind.title} #{self.id}"

    @property
    def filename(self) -> str:
        return f"{self.kind.title}-{self.id}.pdf"


class ScheduledRun(db.Model):
    """One run of a periodic task (预警、定期回访、任务恢复、保存期限提醒) for one time slot.

    The scheduler inserts the row in the same transaction as the task's work: two schedulers
    ticking at the same moment both try, the unique key lets one through, and the other skips
    the slot. A task that fails rolls its row back, so the slot is tried again.
    """

    __tablename__ = "scheduled_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[str] = mapped_column(sa.String(40))
    #: The slot the run covers: ``2026-12-01T05:36`` for a minute task, ``2026-12-01`` daily.
    slot: Mapped[str] = mapped_column(sa.String(40))
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    #: Who ran it (``host:pid``) and what it did (a count), for the operator.
    runner: Mapped[str | None] = mapped_column(sa.String(80))
    result: Mapped[int | None] = mapped_column()

    __table_args__ = (sa.UniqueConstraint("task", "slot", name="uq_scheduled_runs_task_slot"),)
