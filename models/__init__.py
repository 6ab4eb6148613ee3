"""Database models; importing this package registers every table on ``db.metadata``."""

from flask_sqlalchemy import SQLAlchemy

from .base import Base

db = SQLAlchemy(model_class=Base)

from .attachments import Attachment  # noqa: E402
from .calendar import CalendarOverride  # noqa: E402
from .callbacks import Callback  # noqa: E402
from .cases import Case, CaseEvent, NumberSequence, case_assistants, case_petitioners  # noqa: E402
from .categories import Category  # noqa: E402
from .contacts import Call, Letter, Visit  # noqa: E402
from .parties import Party  # noqa: E402
from .settings import SystemSetting  # noqa: E402
from .units import Unit  # noqa: E402
from .users import Role, User, user_roles  # noqa: E402

__all__ = [
    "Attachment",
    "CalendarOverride",
    "Call",
    "Callback",
    "Case",
    "CaseEvent",
    "Category",
    "Letter",
    "NumberSequence",
    "Party",
    "Role",
    "SystemSetting",
    "Unit",
    "User",
    "Visit",
    "case_assistants",
    "case_petitioners",
    "db",
    "user_roles",
]
