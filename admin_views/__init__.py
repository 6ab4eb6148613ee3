"""The admin site: menus follow the work (登记 / 办理 / 回访 / 接待 / 统计 / 设置)."""

from __future__ import annotations

from flask import Flask
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme

from models import (
    Appointment,
    Attachment,
    AuditEntry,
    CalendarOverride,
    Call,
    Callback,
    CallbackQuota,
    CallbackSchedule,
    Case,
    CaseEvent,
    Category,
    CustomField,
    DeadlineRule,
    DestructionBatch,
    EscalationRule,
    LeaderAbsence,
    Letter,
    OpinionBox,
    OpinionBoxOpening,
    OutgoingMessage,
    Party,
    ReceptionLeader,
    ReceptionQueueEntry,
    ReceptionSchedule,
    RectificationOrder,
    RetentionRule,
    Role,
    RoutingRule,
    SurveyCampaign,
    SurveyResponse,
    SurveyTemplate,
    SystemSetting,
    Unit,
    User,
    Visit,
    VisitIncident,
    VisitorPass,
    db,
)
from models.texts import lazy_gettext as _l

from .api.tokens import ApiTokenView
from .audit import AuditLogView
from .auth import ProtectedIndexView
from .callbacks import (
    CallbackQuotaView,
    CallbackScheduleView,
    CallbackView,
    RectificationOrderView,
)
from .cases import AttachmentView, CaseEventView, CaseView
from .custom_fields import CustomFieldView
from .documents import DocumentTemplateView, DocumentView
from .input import install_input_checks
from .menu import main_menu, static_url
from .messages import MessageTemplateView, NotificationSettingsView, OutgoingMessageView
from .reception import (
    AppointmentView,
    ReceptionDeskView,
    ReceptionQueueView,
    VisitIncidentView,
    VisitorPassView,
)
from .reception_setup import (
    LeaderAbsenceView,
    OpinionBoxOpeningView,
    OpinionBoxView,
    ReceptionLeaderView,
    ReceptionScheduleView,
)
from .registers import RegisterView
from .registration import CallView, LetterView, PartyView, VisitView
from .retention import DestructionBatchView, KeptLettersView, RetentionRuleView
from .security import csp_nonce
from .settings import (
    CalendarOverrideView,
    CategoryView,
    DeadlineRuleView,
    EscalationRuleView,
    RoleView,
    RoutingRuleView,
    SystemSettingView,
    UnitView,
    UserView,
)
from .setup import ConfigurationView, SetupView, VocabularyView
from .stats import StatsView
from .surveys import SurveyCampaignView, SurveyResponseView, SurveyTemplateView
from .translations import compiled_admin_translations
from .wording import install_wording
from .workflow import WorkflowView, WorkListView
from .working_days import install_working_days


def init_admin(app: Flask) -> Admin:
    admin = Admin(
        app,
        name=_l("信访通"),
        theme=Bootstrap4Theme(swatch="cerulean", fluid=True),
        index_view=ProtectedIndexView(name=_l("首页"), url="/admin"),
        translations_path=compiled_admin_translations(app),
        csp_nonce_generator=csp_nonce,
    )
    app.jinja_env.globals["main_menu"] = main_menu
    app.jinja_env.globals["admin_static_url"] = static_url
    register = _l("登记")
    handle = _l("办理")
    callback = _l("回访")
    reception = _l("接待")
    stats = _l("统计")
    settings = _l("设置")
    admin.add_views(
        LetterView(Letter, db, name=_l("来信登记"), category=register, endpoint="letter"),
        VisitView(Visit, db, name=_l("来访登记"), category=register, endpoint="visit"),
        CallView(Call, db, name=_l("来电登记"), category=register, endpoint="call"),
        PartyView(Party, db, name=_l("信访人"), category=register, endpoint="party"),
        WorkListView(name=_l("我的工作台"), category=handle, endpoint="worklist"),
        CaseView(Case, db, name=_l("信访事项"), category=handle, endpoint="case"),
        WorkflowView(name=_l("办理步骤"), endpoint="workflow"),
        DocumentView(name=_l("文书"), endpoint="documents"),
        AttachmentView(Attachment, db, name=_l("附件"), category=handle, endpoint="attachment"),
        CaseEventView(CaseEvent, db, name=_l("办理时间线"), category=handle, endpoint="caseevent"),
        KeptLettersView(name=_l("存信登记簿"), category=handle, endpoint="keptletters"),
        OutgoingMessageView(
            OutgoingMessage,
            db,
            name=_l("消息发送记录"),
            category=handle,
            endpoint="outgoingmessage",
        ),
        NotificationSettingsView(
            name=_l("我的通知设置"), category=handle, endpoint="notificationsettings"
        ),
        DestructionBatchView(
            DestructionBatch,
            db,
            name=_l("存信销毁登记簿"),
            category=handle,
            endpoint="destructionbatch",
        ),
        CallbackView(
            Callback, db, name=_l("回访任务与记录"), category=callback, endpoint="callback"
        ),
        CallbackScheduleView(
            CallbackSchedule,
            db,
            name=_l("定期回访计划"),
            category=callback,
            endpoint="callbackschedule",
        ),
        RectificationOrderView(
            RectificationOrder,
            db,
            name=_l("整改通知"),
            category=callback,
            endpoint="rectificationorder",
        ),
        CallbackQuotaView(
            CallbackQuota, db, name=_l("回访配额"), category=callback, endpoint="callbackquota"
        ),
        SurveyCampaignView(
            SurveyCampaign, db, name=_l("满意度调查"), category=callback, endpoint="surveycampaign"
        ),
        SurveyResponseView(
            SurveyResponse, db, name=_l("回收问卷"), category=callback, endpoint="surveyresponse"
        ),
        SurveyTemplateView(
            SurveyTemplate, db, name=_l("问卷模板"), category=callback, endpoint="surveytemplate"
        ),
        ReceptionDeskView(name=_l("接待台"), category=reception, endpoint="reception"),
        AppointmentView(
            Appointment, db, name=_l("预约与来访申请"), category=reception, endpoint="appointment"
        ),
        VisitorPassView(
            VisitorPass, db, name=_l("临时通行证"), category=reception, endpoint="visitorpass"
        ),
        VisitIncidentView(
            VisitIncident,
            db,
            name=_l("来访事件与禁访"),
            category=reception,
            endpoint="visitincident",
        ),
        ReceptionQueueView(
            ReceptionQueueEntry,
            db,
            name=_l("领导接待排队"),
            category=reception,
            endpoint="receptionqueue",
        ),
        ReceptionScheduleView(
            ReceptionSchedule,
            db,
            name=_l("接待日安排"),
            category=reception,
            endpoint="receptionschedule",
        ),
        ReceptionLeaderView(
            ReceptionLeader, db, name=_l("接待领导"), category=reception, endpoint="receptionleader"
        ),
        LeaderAbsenceView(
            LeaderAbsence,
            db,
            name=_l("领导外出与代班"),
            category=reception,
            endpoint="leaderabsence",
        ),
        OpinionBoxView(
            OpinionBox, db, name=_l("意见箱"), category=reception, endpoint="opinionbox"
        ),
        OpinionBoxOpeningView(
            OpinionBoxOpening,
            db,
            name=_l("开箱记录"),
            category=reception,
            endpoint="opinionboxopening",
        ),
        StatsView(name=_l("统计看板"), category=stats, endpoint="stats"),
        RegisterView(name=_l("登记台账"), category=stats, endpoint="registers"),
        UnitView(Unit, db, name=_l("单位与部门"), category=settings, endpoint="unit"),
        CategoryView(Category, db, name=_l("事项分类"), category=settings, endpoint="category"),
        CustomFieldView(
            CustomField, db, name=_l("自定义字段"), category=settings, endpoint="customfield"
        ),
        UserView(User, db, name=_l("用户"), category=settings, endpoint="user"),
        RoleView(Role, db, name=_l("角色与权限"), category=settings, endpoint="role"),
        SystemSettingView(
            SystemSetting, db, name=_l("系统设置"), category=settings, endpoint="setting"
        ),
        DeadlineRuleView(
            DeadlineRule, db, name=_l("办理时限规则"), category=settings, endpoint="deadlinerule"
        ),
        EscalationRuleView(
            EscalationRule,
            db,
            name=_l("超期预警规则"),
            category=settings,
            endpoint="escalationrule",
        ),
        RoutingRuleView(
            RoutingRule, db, name=_l("分派规则"), category=settings, endpoint="routingrule"
        ),
        RetentionRuleView(
            RetentionRule, db, name=_l("保存期限规则"), category=settings, endpoint="retentionrule"
        ),
        CalendarOverrideView(
            CalendarOverride, db, name=_l("工作日调整"), category=settings, endpoint="calendar"
        ),
        DocumentTemplateView(name=_l("文书模板"), category=settings, endpoint="documenttemplate"),
        MessageTemplateView(name=_l("通知模板"), category=settings, endpoint="messagetemplate"),
        VocabularyView(name=_l("称谓"), category=settings, endpoint="vocabulary"),
        ConfigurationView(name=_l("配置导出/导入"), category=settings, endpoint="configuration"),
        SetupView(name=_l("初始设置"), category=settings, endpoint="setup"),
        AuditLogView(AuditEntry, db, name=_l("审计日志"), category=settings, endpoint="auditlog"),
        ApiTokenView(name=_l("接口令牌"), category=settings, endpoint="apitoken"),
    )
    install_input_checks(app)
    install_working_days(app)
    install_wording(app)
    return admin
