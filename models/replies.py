"""A case's replies (interim, formal, to the superior, remedial plan) and its outgoing contacts.

A case may be answered several times (issue 14): an interim answer within 5 days and the formal
one within 8 (product quality), the answer to the customer and the one to the superior (95598),
an early "here is what we will do" (property). Each reply is a row here, recorded by a workflow
step that also writes the timeline event (``event_id``: the event a printed reply letter is
issued for). ``Case.replied_at`` / ``Case.reply_method`` stay the formal reply's, as before.

Outgoing contacts are the calls, visits and messages *to* the petitioner (incoming letters,
visits and calls are in ``contacts.py``); the first one stops the first-contact clock.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import db
from .base import UTCDateTime, utcnow
from .enums import ContactMethod, ReplyKind, ReplyMethod, enum_column


class CaseReply(db.Model):
    __tablename__ = "case_replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"))
    kind: Mapped[ReplyKind] = mapped_column(enum_column(ReplyKind, "reply_kind"))
    #: Who was answered: the petitioner(s), or the higher body / superior.
    recipient: Mapped[str] = mapped_column(sa.String(200))
    method: Mapped[ReplyMethod] = mapped_column(enum_column(ReplyMethod, "reply_method"))
    replied_at: Mapped[datetime] = mapped_column(UTCDateTime)
    text: Mapped[str] = mapped_column(sa.Text)
    #: The timeline event that recorded the reply (a reply letter is issued for it).
    event_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("case_events.id", ondelete="SET NULL")
    )
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case = relationship("Case", lazy="select")
    created_by = relationship("User", lazy="select")
    event = relationship("CaseEvent", lazy="select")

    __table_args__ = (sa.Index("ix_case_replies_case", "case_id", "replied_at"),)

    def __str__(self) -> str:
        return self.kind.title

    @property
    def is_formal(self) -> bool:
        return self.kind == ReplyKind.formal


class OutgoingContact(db.Model):
    __tablename__ = "outgoing_contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"))
    method: Mapped[ContactMethod] = mapped_column(enum_column(ContactMethod, "contact_method"))
    contacted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: The person reached (the petitioner, a relative, the caller …).
    person: Mapped[str] = mapped_column(sa.String(100))
    #: What was said.
    summary: Mapped[str] = mapped_column(sa.Text)
    result: Mapped[str | None] = mapped_column(sa.Text)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case = relationship("Case", lazy="select")
    created_by = relationship("User", lazy="select")

    __table_args__ = (sa.Index("ix_outgoing_contacts_case", "case_id", "contacted_at"),)

    def __str__(self) -> str:
        return f"{self.method.title} {self.person}"
