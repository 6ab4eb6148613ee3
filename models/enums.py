"""Enumerations stored by member name, each with a Chinese title for screens and documents."""

from __future__ import annotations

from enum import StrEnum

import sqlalchemy as sa

from .texts import lazy_gettext as _l


class TitledEnum(StrEnum):
    """A ``StrEnum`` whose members carry a translatable ``title``."""

    __titles__: dict[str, str] = {}

    @property
    def title(self) -> str:
        return str(self.__titles__.get(self.value, self.value))

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        # Lazy titles: forms and filters built at start-up still follow the request's language.
        return [(member.value, cls.__titles__.get(member.value, member.value)) for member in cls]

    @classmethod
    def title_of(cls, value) -> str:
        if value is None or value == "":
            return ""
        try:
            return cls(value).title
        except ValueError:
            return str(value)


def enum_column(enum_cls: type[TitledEnum], name: str) -> sa.Enum:
    """A portable enum column: VARCHAR plus a named CHECK constraint, values = member names."""
    return sa.Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda cls: [member.value for member in cls],
        validate_strings=True,
    )


class CaseChannel(TitledEnum):
    letter = "letter"
    visit = "visit"
    call = "call"
    online = "online"
    opinion_box = "opinion_box"
    higher_assignment = "higher_assignment"
    leader_instruction = "leader_instruction"
    agent = "agent"

    __titles__ = {
        "letter": _l("来信"),
        "visit": _l("来访"),
        "call": _l("来电"),
        "online": _l("网上"),
        "opinion_box": _l("意见箱"),
        "higher_assignment": _l("上级交办"),
        "leader_instruction": _l("领导批办"),
        "agent": _l("代理"),
    }


class CasePriority(TitledEnum):
    normal = "normal"
    urgent = "urgent"
    emergency = "emergency"

    __titles__ = {"normal": _l("一般"), "urgent": _l("急件"), "emergency": _l("紧急")}


class CaseStatus(TitledEnum):
    """Every state of the matter; the workflow that moves between them arrives with the engine."""

    registered = "registered"
    accepted = "accepted"
    awaiting_instruction = "awaiting_instruction"
    assigned = "assigned"
    in_progress = "in_progress"
    result_reported = "result_reported"
    replied = "replied"
    closed = "closed"
    not_accepted = "not_accepted"
    no_longer_accepted = "no_longer_accepted"
    kept = "kept"
    destroyed = "destroyed"
    transferred = "transferred"
    returned = "returned"
    under_review = "under_review"
    under_re_review = "under_re_review"
    archived = "archived"
    merged = "merged"

    __titles__ = {
        "registered": _l("已登记"),
        "accepted": _l("已受理"),
        "awaiting_instruction": _l("待阅批"),
        "assigned": _l("已交办"),
        "in_progress": _l("办理中"),
        "result_reported": _l("已报结"),
        "replied": _l("已答复"),
        "closed": _l("已办结"),
        "not_accepted": _l("不予受理"),
        "no_longer_accepted": _l("不再受理"),
        "kept": _l("存信"),
        "destroyed": _l("已销毁"),
        "transferred": _l("已转办"),
        "returned": _l("已退回"),
        "under_review": _l("复查中"),
        "under_re_review": _l("复核中"),
        "archived": _l("已归档"),
        "merged": _l("已合并"),
    }


class CategoryKind(TitledEnum):
    consultation = "consultation"
    complaint = "complaint"
    help_request = "help_request"
    suggestion = "suggestion"
    report = "report"
    appeal = "appeal"
    accusation = "accusation"
    other = "other"

    __titles__ = {
        "consultation": _l("咨询"),
        "complaint": _l("投诉"),
        "help_request": _l("求助"),
        "suggestion": _l("建议"),
        "report": _l("举报"),
        "appeal": _l("申诉"),
        "accusation": _l("检举控告"),
        "other": _l("其他"),
    }


class UnitKind(TitledEnum):
    office = "office"
    department = "department"
    leadership = "leadership"
    higher_body = "higher_body"
    external = "external"

    __titles__ = {
        "office": _l("信访办/办公室"),
        "department": _l("内部部门"),
        "leadership": _l("领导班子"),
        "higher_body": _l("上级机关"),
        "external": _l("外部单位"),
    }


class Gender(TitledEnum):
    male = "male"
    female = "female"
    unknown = "unknown"

    __titles__ = {"male": _l("男"), "female": _l("女"), "unknown": _l("未说明")}


class IdType(TitledEnum):
    resident_id = "resident_id"
    driving_licence = "driving_licence"
    work_card = "work_card"
    passport = "passport"
    hk_macao_permit = "hk_macao_permit"
    other = "other"

    __titles__ = {
        "resident_id": _l("居民身份证"),
        "driving_licence": _l("驾驶证"),
        "work_card": _l("工作证"),
        "passport": _l("护照"),
        "hk_macao_permit": _l("港澳台居民证件"),
        "other": _l("其他证件"),
    }


class LetterForm(TitledEnum):
    paper = "paper"
    email = "email"
    fax = "fax"
    online = "online"

    __titles__ = {
        "paper": _l("纸质信函"),
        "email": _l("电子邮件"),
        "fax": _l("传真"),
        "online": _l("网上来信"),
    }


class LetterOrigin(TitledEnum):
    direct = "direct"
    forwarded = "forwarded"
    leader_instruction = "leader_instruction"

    __titles__ = {
        "direct": _l("直接寄达"),
        "forwarded": _l("上级批转/交办"),
        "leader_instruction": _l("领导批办"),
    }


class VisitKind(TitledEnum):
    individual = "individual"
    group = "group"

    __titles__ = {"individual": _l("个人来访"), "group": _l("集体来访")}


class CallLine(TitledEnum):
    office_line = "office_line"
    hotline = "hotline"
    report_line = "report_line"

    __titles__ = {
        "office_line": _l("办公电话"),
        "hotline": _l("服务热线"),
        "report_line": _l("举报电话"),
    }


class CallbackMethod(TitledEnum):
    phone = "phone"
    home_visit = "home_visit"
    on_site = "on_site"
    symposium = "symposium"
    questionnaire = "questionnaire"
    message = "message"
    other = "other"

    __titles__ = {
        "phone": _l("电话回访"),
        "home_visit": _l("上门回访"),
        "on_site": _l("现场查看"),
        "symposium": _l("座谈会"),
        "questionnaire": _l("问卷"),
        "message": _l("短信/网络"),
        "other": _l("其他"),
    }


class Satisfaction(TitledEnum):
    satisfied = "satisfied"
    basically_satisfied = "basically_satisfied"
    dissatisfied = "dissatisfied"

    __titles__ = {
        "satisfied": _l("满意"),
        "basically_satisfied": _l("基本满意"),
        "dissatisfied": _l("不满意"),
    }


#: The verdicts that count as satisfied in every 满意率 (cases, callbacks, surveys).
SATISFIED = (Satisfaction.satisfied, Satisfaction.basically_satisfied)


class AttachmentKind(TitledEnum):
    scanned_letter = "scanned_letter"
    envelope = "envelope"
    photo = "photo"
    document = "document"
    other = "other"

    __titles__ = {
        "scanned_letter": _l("信件扫描件"),
        "envelope": _l("信封"),
        "photo": _l("照片"),
        "document": _l("文件材料"),
        "other": _l("其他"),
    }


class EventKind(TitledEnum):
    registered = "registered"
    edited = "edited"
    letter_added = "letter_added"
    visit_added = "visit_added"
    call_added = "call_added"
    callback_added = "callback_added"
    callback_edited = "callback_edited"
    attachment_added = "attachment_added"
    attachment_removed = "attachment_removed"
    contact_edited = "contact_edited"
    contact_removed = "contact_removed"
    deleted = "deleted"
    # Workflow steps: the member name is the step's code.
    accept = "accept"
    not_accept = "not_accept"
    no_longer_accept = "no_longer_accept"
    keep = "keep"
    answer_on_spot = "answer_on_spot"
    propose = "propose"
    send_for_reading = "send_for_reading"
    instruct = "instruct"
    assign = "assign"
    acknowledge = "acknowledge"
    add_assistant = "add_assistant"
    transfer = "transfer"
    return_to_sender = "return_to_sender"
    investigate = "investigate"
    urge = "urge"
    interim_report = "interim_report"
    request_extension = "request_extension"
    decide_extension = "decide_extension"
    pause_clock = "pause_clock"
    resume_clock = "resume_clock"
    report_result = "report_result"
    approve_result = "approve_result"
    send_back = "send_back"
    reply = "reply"
    close = "close"
    request_review = "request_review"
    answer_review = "answer_review"
    request_re_review = "request_re_review"
    answer_re_review = "answer_re_review"
    archive = "archive"
    reopen = "reopen"
    destroy = "destroy"
    merge = "merge"
    merged_in = "merged_in"
    split = "split"
    escalated = "escalated"
    document_issued = "document_issued"
    reported_up = "reported_up"
    send_reply = "send_reply"
    log_contact = "log_contact"

    routed = "routed"

    out_of_scope = "out_of_scope"
    sign_off_report = "sign_off_report"
    commend = "commend"
    draft_report = "draft_report"

    __titles__ = {
        "registered": _l("登记"),
        "edited": _l("修改事项"),
        "letter_added": _l("登记来信"),
        "visit_added": _l("登记来访"),
        "call_added": _l("登记来电"),
        "callback_added": _l("登记回访"),
        "callback_edited": _l("修改回访"),
        "attachment_added": _l("上传附件"),
        "attachment_removed": _l("删除附件"),
        "contact_edited": _l("修改来信/来访/来电"),
        "contact_removed": _l("删除来信/来访/来电"),
        "deleted": _l("删除事项"),
        "accept": _l("受理"),
        "not_accept": _l("不予受理"),
        "no_longer_accept": _l("不再受理"),
        "keep": _l("存信"),
        "answer_on_spot": _l("当场答复"),
        "propose": _l("拟办"),
        "send_for_reading": _l("送阅"),
        "instruct": _l("领导批示"),
        "assign": _l("交办"),
        "acknowledge": _l("签收"),
        "add_assistant": _l("协办"),
        "transfer": _l("转办"),
        "return_to_sender": _l("退回"),
        "investigate": _l("调查"),
        "urge": _l("催办"),
        "interim_report": _l("中途报告"),
        "request_extension": _l("延期申请"),
        "decide_extension": _l("延期审批"),
        "pause_clock": _l("暂停计时"),
        "resume_clock": _l("恢复计时"),
        "report_result": _l("报结"),
        "approve_result": _l("报结审核"),
        "send_back": _l("退回重办"),
        "reply": _l("答复"),
        "close": _l("办结"),
        "request_review": _l("复查申请"),
        "answer_review": _l("复查意见"),
        "request_re_review": _l("复核申请"),
        "answer_re_review": _l("复核意见"),
        "archive": _l("归档"),
        "reopen": _l("重新办理"),
        "destroy": _l("销毁存信"),
        "merge": _l("合并"),
        "merged_in": _l("并入事项"),
        "split": _l("拆分"),
        "escalated": _l("超期预警"),
        "document_issued": _l("出具文书"),
        "reported_up": _l("即时报告领导"),
        "send_reply": _l("阶段性答复/回复上级"),
        "log_contact": _l("联系信访人"),
        "routed": _l("自动分派"),
        "out_of_scope": _l("界定为不属本单位职责范围"),
        "sign_off_report": _l("信息报告领导签发"),
        "commend": _l("表扬信访人"),
        "draft_report": _l("起草报告文书"),
    }


class Clock(TitledEnum):
    """The deadlines a case can run against (decisions.md "Deadlines")."""

    handover = "handover"
    acceptance = "acceptance"
    instruction = "instruction"
    handling = "handling"
    closing = "closing"
    reply = "reply"
    rectification = "rectification"
    callback = "callback"
    review = "review"
    re_review = "re_review"
    dispatch = "dispatch"
    first_contact = "first_contact"
    interim_reply = "interim_reply"
    remedial_plan = "remedial_plan"
    superior_reply = "superior_reply"

    out_of_scope = "out_of_scope"

    __titles__ = {
        "handover": _l("交转办时限"),
        "acceptance": _l("受理告知时限"),
        "instruction": _l("领导批示时限"),
        "handling": _l("承办时限"),
        "closing": _l("办结时限"),
        "reply": _l("答复时限"),
        "rectification": _l("整改方案时限"),
        "callback": _l("回访时限"),
        "review": _l("复查时限"),
        "re_review": _l("复核时限"),
        "dispatch": _l("派单时限"),
        "first_contact": _l("首次联系时限"),
        "interim_reply": _l("阶段性答复时限"),
        "remedial_plan": _l("告知补救措施时限"),
        "superior_reply": _l("回复上级时限"),
        "out_of_scope": _l("不属职责事项转送/退回时限"),
    }


class TimeUnit(TitledEnum):
    minutes = "minutes"
    hours = "hours"
    calendar_days = "calendar_days"
    working_days = "working_days"

    __titles__ = {
        "minutes": _l("分钟"),
        "hours": _l("小时"),
        "calendar_days": _l("自然日"),
        "working_days": _l("工作日"),
    }


class EscalationTrigger(TitledEnum):
    percent_elapsed = "percent_elapsed"
    past_due = "past_due"

    __titles__ = {
        "percent_elapsed": _l("时限已用百分比"),
        "past_due": _l("超过期限的工作日数"),
    }


class ReplyMethod(TitledEnum):
    letter = "letter"
    phone = "phone"
    email = "email"
    on_site = "on_site"
    message = "message"

    __titles__ = {
        "letter": _l("书面答复（信函）"),
        "phone": _l("电话答复"),
        "email": _l("电子邮件"),
        "on_site": _l("当面答复"),
        "message": _l("短信/平台消息"),
    }


class OutOfScopePolicy(TitledEnum):
    """What a unit does with a matter outside its remit (decisions.md "Other conflicts")."""

    transfer = "transfer"
    return_only = "return_only"
    via_office = "via_office"

    __titles__ = {
        "transfer": _l("转送有权处理的机关并告知信访人"),
        "return_only": _l("15日内说明理由退回，不自行转送"),
        "via_office": _l("3日内送办公室转交"),
    }


class DocumentKind(TitledEnum):
    """The written documents a case can produce (issue 5, perf-security.md §3.4–3.5)."""

    reply_letter = "reply_letter"
    acceptance_notice = "acceptance_notice"
    non_acceptance_notice = "non_acceptance_notice"
    handover_notice = "handover_notice"
    extension_notice = "extension_notice"
    supervision_card = "supervision_card"
    complaint_notice = "complaint_notice"
    return_letter = "return_letter"
    callback_record = "callback_record"
    review_opinion = "review_opinion"

    special_report = "special_report"
    information_report = "information_report"
    public_notice = "public_notice"
    complaint_record = "complaint_record"

    __titles__ = {
        "reply_letter": _l("答复意见书"),
        "acceptance_notice": _l("受理告知书"),
        "non_acceptance_notice": _l("不予受理告知书"),
        "handover_notice": _l("转送/交办通知"),
        "extension_notice": _l("延期告知书"),
        "supervision_card": _l("督办卡"),
        "complaint_notice": _l("投诉处理通知单"),
        "return_letter": _l("退回函"),
        "callback_record": _l("回访记录表"),
        "review_opinion": _l("复查意见书"),
        "special_report": _l("专报"),
        "information_report": _l("信访信息报告"),
        "public_notice": _l("公示"),
        "complaint_record": _l("客户投诉记录表"),
    }


class RegisterKind(TitledEnum):
    """Printed registers (台账)."""

    letters = "letters"
    visits = "visits"
    calls = "calls"
    complaints = "complaints"
    callbacks = "callbacks"
    overdue = "overdue"

    leaders_reception = "leaders_reception"
    supervision_report = "supervision_report"
    kept_letters = "kept_letters"
    destructions = "destructions"

    __titles__ = {
        "letters": _l("来信登记台账"),
        "visits": _l("来访登记台账"),
        "calls": _l("来电登记台账"),
        "complaints": _l("投诉登记台账"),
        "callbacks": _l("回访台账"),
        "overdue": _l("超期事项清单"),
        "leaders_reception": _l("领导接待来访登记表"),
        "supervision_report": _l("督办卡月末情况报告"),
        "kept_letters": _l("存信登记簿"),
        "destructions": _l("存信销毁登记簿"),
    }


class RegisterJobStatus(TitledEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"

    __titles__ = {
        "queued": _l("排队中"),
        "running": _l("生成中"),
        "done": _l("已完成"),
        "failed": _l("失败"),
    }


class CallbackOrigin(TitledEnum):
    """Why a callback task exists."""

    manual = "manual"
    on_close = "on_close"
    schedule = "schedule"

    __titles__ = {
        "manual": _l("手工登记"),
        "on_close": _l("办结后自动生成"),
        "schedule": _l("定期回访计划"),
    }


class CallbackFollowUp(TitledEnum):
    """What happens when a callback finds the problem still there (回访工作制度 四, 分析制度 五)."""

    none = "none"
    reopen = "reopen"
    rectification = "rectification"

    __titles__ = {
        "none": _l("无需跟进"),
        "reopen": _l("重新办理"),
        "rectification": _l("书面通知整改"),
    }


class RectificationSource(TitledEnum):
    callback = "callback"
    survey = "survey"

    __titles__ = {"callback": _l("回访发现问题"), "survey": _l("满意度调查")}


class AppointmentKind(TitledEnum):
    appointment = "appointment"
    application = "application"

    __titles__ = {"appointment": _l("预约"), "application": _l("来访申请")}


class AppointmentChannel(TitledEnum):
    phone = "phone"
    email = "email"
    platform = "platform"
    in_person = "in_person"

    __titles__ = {
        "phone": _l("电话"),
        "email": _l("电子邮件"),
        "platform": _l("指定平台"),
        "in_person": _l("现场/书面"),
    }


class AppointmentStatus(TitledEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"
    cancelled = "cancelled"

    __titles__ = {
        "pending": _l("待审批"),
        "approved": _l("有效"),
        "rejected": _l("不予批准"),
        "cancelled": _l("已取消"),
    }


class IncidentKind(TitledEnum):
    refused_inspection = "refused_inspection"
    restricted_area = "restricted_area"
    disruptive = "disruptive"
    no_identity = "no_identity"
    other = "other"

    __titles__ = {
        "refused_inspection": _l("拒绝检查"),
        "restricted_area": _l("进入禁止区域"),
        "disruptive": _l("扰乱秩序"),
        "no_identity": _l("拒不出示证件"),
        "other": _l("其他"),
    }


class IncidentMeasure(TitledEnum):
    warning = "warning"
    escorted_out = "escorted_out"
    banned = "banned"
    police_called = "police_called"

    __titles__ = {
        "warning": _l("警告"),
        "escorted_out": _l("劝离/带离"),
        "banned": _l("禁止再次来访"),
        "police_called": _l("报警"),
    }


class Recurrence(TitledEnum):
    weekly = "weekly"
    monthly_weekday = "monthly_weekday"
    monthly_day = "monthly_day"

    __titles__ = {
        "weekly": _l("每周"),
        "monthly_weekday": _l("每月第几个星期几"),
        "monthly_day": _l("每月固定日期"),
    }


class QueueStatus(TitledEnum):
    waiting = "waiting"
    received = "received"
    absent = "absent"

    __titles__ = {"waiting": _l("等候接待"), "received": _l("已接待"), "absent": _l("未到/离开")}


class CustomFieldType(TitledEnum):
    """What an administrator-defined case field holds (models.custom_fields)."""

    text = "text"
    long_text = "long_text"
    number = "number"
    date = "date"
    datetime = "datetime"
    choice = "choice"
    boolean = "boolean"
    person = "person"

    __titles__ = {
        "text": _l("文本"),
        "long_text": _l("多行文本"),
        "number": _l("数字"),
        "date": _l("日期"),
        "datetime": _l("日期时间"),
        "choice": _l("选项"),
        "boolean": _l("是/否"),
        "person": _l("人员"),
    }


class ReplyKind(TitledEnum):
    """What a reply is: a case may have several (issue 14), each stopping its own clock."""

    interim = "interim"
    formal = "formal"
    superior = "superior"
    remedial_plan = "remedial_plan"

    __titles__ = {
        "interim": _l("阶段性答复"),
        "formal": _l("正式答复"),
        "superior": _l("回复上级"),
        "remedial_plan": _l("补救措施告知"),
    }


class ContactMethod(TitledEnum):
    """How an outgoing contact with the petitioner was made."""

    phone = "phone"
    visit = "visit"
    sms = "sms"
    letter = "letter"
    email = "email"
    other = "other"

    __titles__ = {
        "phone": _l("电话"),
        "visit": _l("上门/当面"),
        "sms": _l("短信"),
        "letter": _l("信函"),
        "email": _l("电子邮件"),
        "other": _l("其他"),
    }


class RoutingMoment(TitledEnum):
    """When a routing rule is applied to a case (models.routing)."""

    registration = "registration"
    acceptance = "acceptance"

    __titles__ = {"registration": _l("登记时"), "acceptance": _l("受理时")}


class RoutingAction(TitledEnum):
    """What a routing rule does with the unit it picks: hand the case over, or suggest it."""

    suggest = "suggest"
    assign = "assign"

    __titles__ = {"suggest": _l("建议承办单位（交办时预选）"), "assign": _l("直接交办")}


class RetentionOutcome(TitledEnum):
    """The outcome a retention rule applies to (models.retention); ``any`` matches every one."""

    any = "any"
    closed = "closed"
    not_accepted = "not_accepted"
    transferred = "transferred"
    kept = "kept"

    __titles__ = {
        "any": _l("任何结果"),
        "closed": _l("办结（含归档、合并）"),
        "not_accepted": _l("不予受理、不再受理"),
        "transferred": _l("转办、退回"),
        "kept": _l("存信"),
    }


# -- outgoing messages (models/messaging.py) --------------------------------------------------


class MessageChannel(TitledEnum):
    email = "email"
    sms = "sms"

    __titles__ = {"email": _l("电子邮件"), "sms": _l("短信")}


class MessageKind(TitledEnum):
    # To staff
    assignment = "assignment"
    due_soon = "due_soon"
    overdue = "overdue"
    escalation = "escalation"
    callback_due = "callback_due"
    digest = "digest"
    # To petitioners
    acceptance = "acceptance"
    transfer = "transfer"
    extension = "extension"
    reply_ready = "reply_ready"

    __titles__ = {
        "assignment": _l("交办"),
        "due_soon": _l("即将到期"),
        "overdue": _l("已超期"),
        "escalation": _l("超期预警升级"),
        "callback_due": _l("回访到期"),
        "digest": _l("每日汇总"),
        "acceptance": _l("受理告知"),
        "transfer": _l("转送告知"),
        "extension": _l("延期告知"),
        "reply_ready": _l("答复告知"),
    }


class MessageStatus(TitledEnum):
    queued = "queued"
    sent = "sent"
    failed = "failed"
    #: Waiting for the recipient's daily digest.
    held = "held"
    #: Sent inside a digest (``digest_id``).
    bundled = "bundled"

    __titles__ = {
        "queued": _l("待发送"),
        "sent": _l("已发送"),
        "failed": _l("发送失败"),
        "held": _l("待每日汇总"),
        "bundled": _l("已并入汇总"),
    }


class EmailDelivery(TitledEnum):
    immediate = "immediate"
    digest = "digest"
    off = "off"

    __titles__ = {
        "immediate": _l("立即发送"),
        "digest": _l("每日汇总一封"),
        "off": _l("不发送邮件"),
    }
