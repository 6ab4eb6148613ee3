"""Database models; importing this package registers every table on ``db.metadata``."""

from flask_sqlalchemy import SQLAlchemy

from .base import Base

db = SQLAlchemy(model_class=Base)

from .api_tokens import ApiCaseLink, ApiToken, api_token_units  # noqa: E402
from .attachments import Attachment  # noqa: E402
from .audit import AuditEntry  # noqa: E402
from .calendar import CalendarOverride  # noqa: E402
from .callbacks import Callback, CallbackQuota, CallbackSchedule  # noqa: E402
from .case_stats import CaseDailyStats  # noqa: E402  (after every model it sums up)
from .cases import (  # noqa: E402
    Case,
    CaseEvent,
    CaseRepresentative,
    NumberSequence,
    case_assistants,
    case_petitioners,
)
from .categories import Category  # noqa: E402
from .commendations import Commendation  # noqa: E402
from .contacts import Call, Letter, Visit  # noqa: E402
from .custom_fields import CustomField  # noqa: E402
from .deadlines import (  # noqa: E402
    CaseClock,
    ClockEscalation,
    DeadlineRule,
    EscalationRule,
    Notification,
)
from .documents import DocumentTemplate, IssuedDocument, RegisterJob, ScheduledRun  # noqa: E402
from .login_failures import LoginFailure  # noqa: E402
from .messaging import MessageTemplate, OutgoingMessage  # noqa: E402
from .online_petitions import OnlinePetition  # noqa: E402
from .opinion_boxes import OpinionBox, OpinionBoxOpening, opinion_slip_cases  # noqa: E402
from .parties import Party  # noqa: E402
from .reception import Appointment, VisitIncident, VisitorPass  # noqa: E402
from .reception_days import (  # noqa: E402
    LeaderAbsence,
    ReceptionLeader,
    ReceptionQueueEntry,
    ReceptionRotaMember,
    ReceptionSchedule,
)
from .replies import CaseReply, OutgoingContact  # noqa: E402
from .retention import DestructionBatch, RetentionRule  # noqa: E402
from .routing import RoutingRule  # noqa: E402
from .settings import SystemSetting  # noqa: E402
from .surveys import (  # noqa: E402
    RectificationOrder,
    SurveyAnswer,
    SurveyCampaign,
    SurveyItem,
    SurveyResponse,
    SurveyTemplate,
)
from .units import Unit  # noqa: E402
from .users import Role, User, user_roles  # noqa: E402

__all__ = [
    "ApiCaseLink",
    "ApiToken",
    "Appointment",
    "Attachment",
    "AuditEntry",
    "CalendarOverride",
    "Call",
    "Callback",
    "CallbackQuota",
    "CallbackSchedule",
    "Case",
    "CaseClock",
    "CaseDailyStats",
    "CaseEvent",
    "CaseReply",
    "CaseRepresentative",
    "Category",
    "ClockEscalation",
    "Commendation",
    "CustomField",
    "DeadlineRule",
    "DestructionBatch",
    "DocumentTemplate",
    "EscalationRule",
    "IssuedDocument",
    "LeaderAbsence",
    "Letter",
    "LoginFailure",
    "MessageTemplate",
    "Notification",
    "NumberSequence",
    "OnlinePetition",
    "OpinionBox",
    "OpinionBoxOpening",
    "OutgoingContact",
    "OutgoingMessage",
    "Party",
    "ReceptionLeader",
    "ReceptionQueueEntry",
    "ReceptionRotaMember",
    "ReceptionSchedule",
    "RectificationOrder",
    "RegisterJob",
    "RetentionRule",
    "Role",
    "RoutingRule",
    "ScheduledRun",
    "SurveyAnswer",
    "SurveyCampaign",
    "SurveyItem",
    "SurveyResponse",
    "SurveyTemplate",
    "SystemSetting",
    "Unit",
    "User",
    "Visit",
    "VisitIncident",
    "VisitorPass",
    "api_token_units",
    "case_assistants",
    "case_petitioners",
    "db",
    "opinion_slip_cases",
    "user_roles",
]

from . import policies  # noqa: E402, F401  (adds Case.is_confidential)
