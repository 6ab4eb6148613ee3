"""What each document type is: layout, the event it reports on, who may issue it, the default
wording, and the values its placeholders take."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa

from .. import db
from ..base import format_chinese_date, to_local
from ..cases import Case, CaseEvent
from ..enums import CaseStatus, DocumentKind, EventKind, ReplyKind
from ..settings import SystemSetting
from ..vocabulary import substitute
from .wording import tidy_punctuation

K = DocumentKind
E = EventKind
S = CaseStatus

#: Placeholders every document offers, with what they hold.
COMMON_VARIABLES: dict[str, str] = {
    "事项编号": "登记编号，如 XF2026-000123",
    "事项标题": "信访事项的标题",
    "信访人": "信访人姓名，多人以顿号分隔",
    "称呼": "抬头称呼：信访人姓名；匿名或多人时为“信访人”",
    "信访内容": "登记的信访内容",
    "诉求": "登记的诉求",
    "收到日期": "收到信访事项的日期，如 2026年3月1日",
    "受理日期": "受理日期",
    "承办单位": "当前承办单位",
    "承办人": "当前承办人",
    "本机关": "出具文书的单位名称",
    "成文日期": "文书的日期",
    "文号": "发文字号，如 县信复〔2026〕12号",
}

# --- the result's sign-off (issue 15, S1 step 4) -----------------------------------------
#: The leader in charge who signed the reported result and the date it went to the office,
#: offered to every document's template.
SIGN_OFF_VARIABLES: dict[str, str] = {
    "分管领导签字": "报结时签字的分管领导（承办单位负责人或领导）姓名",
    "报送办公室日期": "承办单位将结果报送办公室的日期",
}
SIGN_OFF_SAMPLES: dict[str, str] = {"分管领导签字": "钱昊", "报送办公室日期": "2026年4月18日"}
COMMON_VARIABLES.update(SIGN_OFF_VARIABLES)


def sign_off_values(case: Case) -> dict[str, str]:
    return {
        "分管领导签字": case.result_signer_name or "",
        "报送办公室日期": chinese_date(case.result_reported_to_office_on),
    }


# --- end of the sign-off block ------------------------------------------------------------

#: Placeholders specific to one document type.
SPECIFIC_VARIABLES: dict[DocumentKind, dict[str, str]] = {
    K.reply_letter: {
        "查明事实": "报结时填写的查明事实",
        "处理意见": "报结时填写的对每项诉求的处理意见",
        "答复内容": "答复步骤中填写的答复内容（未答复时为空）",
        "答复类型": "所打印答复的类型：正式答复、阶段性答复、补救措施告知",
        "复查机关": "系统设置中的复查机关",
        "复查期限": "申请复查的期限（日）",
    },
    K.acceptance_notice: {"办结期限": "办结时限的到期日（无时限时为空）"},
    K.non_acceptance_notice: {
        "不予受理理由": "不予受理步骤中填写的理由",
        "法定途径": "应当通过的法定途径或有权处理的机关",
    },
    K.handover_notice: {
        "接收单位": "转送的机关或交办的单位",
        "转交方式": "“转送”或“交办”",
        "转交说明": "转办理由或交办说明",
        "办理期限": "要求办结的日期（未规定时为空）",
    },
    K.extension_notice: {
        "延期理由": "延期申请中填写的理由",
        "延长期限": "批准延长的期限，如 30日、2个工作日",
        "原期限": "延期前的办结（答复）期限",
        "新期限": "延期后的办结（答复）期限",
        "期限类型": "所延长的期限：“办结”或“答复”",
    },
    K.supervision_card: {
        "批示内容": "领导批示",
        "批示领导": "作出批示的领导",
        "批示日期": "批示日期",
        "办理期限": "要求办结的日期",
    },
    K.complaint_notice: {"办理期限": "要求办结的日期"},
    K.return_letter: {"退回对象": "退回给谁", "退回理由": "退回理由", "建议转往": "建议转往何处"},
    K.callback_record: {
        "回访方式": "回访方式",
        "回访时间": "回访时间",
        "回访人": "回访人",
        "被回访人": "接受回访的人",
        "满意度": "满意、基本满意或不满意",
        "回访意见": "信访人的意见",
        "问题仍存在": "“是”或“否”",
        "已核对收费": "“是”或“否”（回访时核对维修收费）",
        "已签名": "“是”或“否”（被回访人在回访记录上签名）",
        "跟进措施": "问题仍存在时的跟进：无需跟进、重新办理或书面通知整改",
        "回访备注": "回访记录中的备注",
    },
    K.review_opinion: {
        "意见类型": "“复查”或“复核”",
        "申请日期": "提出申请的日期",
        "申请理由": "申请理由",
        "复查意见": "复查（复核）意见",
        "复查结论": "维持或不维持原处理意见的结论句",
        "可再申请": "复查意见书为“是”（可申请复核），复核意见书为空",
        "复核机关": "系统设置中的复核机关",
        "复查期限": "申请复核的期限（日）",
    },
    # --- issue 15: 专报, 信访信息报告, 公示, 客户投诉记录表 ---
    K.special_report: {
        "报送领导": "专报的主送对象，如 县政府领导",
        "基本情况": "专报中填写的基本情况",
        "人数": "来访人数",
        "代表": "群体访的代表",
        "已采取措施": "已采取的稳控、处置措施",
        "意见建议": "报请领导决定的意见和建议",
        "报告人": "起草专报的人员",
    },
    K.information_report: {
        "信息类别": "重大集体访、越级访、异常访或一般信访信息",
        "基本情况": "信息报告中填写的基本情况",
        "处置情况": "已采取的处置措施",
        "拟稿人": "起草信息报告的人员",
        "签发人": "审定签发的领导",
        "签发时间": "领导签发的时间",
        "上报时间": "信息报送上级的时间",
    },
    K.public_notice: {
        "整改措施": "针对建议采取的整改措施",
        "表扬名单": "受表扬的人员及表扬事由，每人一行",
        "公示期限": "公示的天数",
    },
    K.complaint_record: {
        "投诉类别": "投诉的分类",
        "有效性": "投诉是否有效的判定（无效时附理由）",
        "处理情况": "调查核实和处理情况",
        "回访情况": "回访时间、满意度和客户意见",
        "总结评价": "办结时填写的总结与评价",
    },
}


@dataclass(frozen=True)
class DocumentType:
    kind: DocumentKind
    #: ``letter``: GB/T 9704 信函格式; ``form``: a one-page table (cards, notices, records).
    layout: str
    #: Timeline events the document reports on; ``pick`` chooses the first or the last.
    source_kinds: tuple[EventKind, ...]
    #: Besides ``document.print``, holding any one of these is enough.
    permissions: tuple[str, ...]
    #: Takes a document number of the issuing unit (else it carries the case number).
    numbered: bool = True
    #: Addressed to the petitioner: never for anonymous matters.
    to_petitioner: bool = False
    pick: str = "last"
    #: States the case may be in; empty: any state once the source event exists.
    statuses: frozenset[CaseStatus] = field(default_factory=frozenset)
    default_title: str = ""
    default_body: str = ""

    @property
    def title(self) -> str:
        return self.kind.title

    @property
    def variables(self) -> dict[str, str]:
        from ..custom_fields import placeholder_descriptions

        # The administrator-defined fields, by label ({{ 患者类型 }}), after the built-in ones.
        custom = {
            name: text
            for name, text in placeholder_descriptions().items()
            if name not in COMMON_VARIABLES
        }
        return {**custom, **COMMON_VARIABLES, **SPECIFIC_VARIABLES.get(self.kind, {})}


_REPLY_BODY = """{{ 称呼 }}：
{% if 答复类型 and 答复类型 != "正式答复" %}\
您反映{{ 事项标题 }}的信访事项（登记编号：{{ 事项编号 }}）正在办理中，\
现将{{ 答复类型 }}内容告知如下：
{{ 答复内容 }}
办理结束后，本机关将书面答复您。
特此告知。{% else %}\
{{ 收到日期 }}，本机关收到您反映{{ 事项标题 }}的信访事项（登记编号：{{ 事项编号 }}），\
{% if 受理日期 %}于{{ 受理日期 }}依法受理。{% endif %}\
{% if 诉求 %}您的诉求是：{{ 诉求 }}{% endif %}
本机关经调查核实，现答复如下：
一、查明的事实
{{ 查明事实 }}
二、处理意见
{% if 答复内容 and 处理意见 in 答复内容 %}{{ 答复内容 }}{% else %}{{ 处理意见 }}
{% if 答复内容 not in 处理意见 %}{{ 答复内容 }}{% endif %}{% endif %}
三、救济途径
如对本答复意见不服，可自收到本答复意见书之日起{{ 复查期限 }}日内，向{{ 复查机关 }}书面提出复查申请。
特此答复。{% endif %}"""

_ACCEPTANCE_BODY = """{{ 称呼 }}：
您于{{ 收到日期 }}提出的关于{{ 事项标题 }}的信访事项（登记编号：{{ 事项编号 }}），\
经审查，符合受理条件，本机关已于{{ 受理日期 }}予以受理。
本机关将自受理之日起60日内办结{% if 办结期限 %}（即{{ 办结期限 }}前）{% endif %}，\
并将处理意见书面告知您。情况复杂的，经批准可以适当延长办理期限，延长期限不超过30日，\
届时将告知延期理由。
办理期间，请保持联系方式畅通，依法有序反映诉求。
特此告知。"""

_NON_ACCEPTANCE_BODY = """{{ 称呼 }}：
您于{{ 收到日期 }}提出的关于{{ 事项标题 }}的信访事项（登记编号：{{ 事项编号 }}），\
经审查，本机关决定不予受理。理由如下：
{{ 不予受理理由 }}
您反映的事项，请{{ 法定途径 }}。
特此告知。"""

_HANDOVER_BODY = """{{ 接收单位 }}：
现将{{ 信访人 }}反映{{ 事项标题 }}的信访事项（登记编号：{{ 事项编号 }}）{{ 转交方式 }}你单位，\
请依法处理。
{{ 转交说明 }}
{% if 办理期限 %}请于{{ 办理期限 }}前办结，{% else %}请在规定时限内办结，{% endif %}\
并将办理结果书面报送本机关{% if 转交方式 == "转送" %}，同时告知信访人{% endif %}。
附件：信访材料"""

_EXTENSION_BODY = """{{ 称呼 }}：
您反映的关于{{ 事项标题 }}的信访事项（登记编号：{{ 事项编号 }}），\
本机关已于{{ 受理日期 }}受理。因{{ 延期理由 }}，不能在原定{{ 期限类型 }}期限（{{ 原期限 }}）内\
{{ 期限类型 }}。经批准，{{ 期限类型 }}期限延长{{ 延长期限 }}，至{{ 新期限 }}。
本机关将在延长的期限内{{ 期限类型 }}，并将处理意见书面告知您。
特此告知。"""

_SUPERVISION_BODY = """请{{ 承办单位 }}按照领导批示要求认真办理，\
{% if 办理期限 %}于{{ 办理期限 }}前{% else %}在规定时限内{% endif %}将办理结果书面报送{{ 本机关 }}。
逾期未办结的，须书面说明理由；督办事项办结情况将予以通报。"""

_COMPLAINT_BODY = """请{{ 承办单位 }}收到本通知单后立即核实处理，\
{% if 办理期限 %}于{{ 办理期限 }}前{% else %}在规定时限内{% endif %}\
将处理结果填写在回执栏并反馈{{ 本机关 }}。
本通知单编号与投诉登记台账编号一致，请在反馈时注明。"""

_RETURN_BODY = """{{ 退回对象 }}：
{{ 收到日期 }}收到的关于{{ 事项标题 }}的信访事项（登记编号：{{ 事项编号 }}），\
经审查，不属于本机关职责范围，现予退回。理由如下：
{{ 退回理由 }}
{% if 建议转往 %}建议转{{ 建议转往 }}处理。
{% endif %}特此函复。"""

_CALLBACK_BODY = """以上回访情况经被回访人确认属实。"""

_REVIEW_BODY = """{{ 称呼 }}：
您不服对{{ 事项标题 }}信访事项（登记编号：{{ 事项编号 }}）的处理意见，\
于{{ 申请日期 }}提出{{ 意见类型 }}申请。本机关依法进行了{{ 意见类型 }}，现将意见告知如下：
{{ 复查意见 }}
{{ 复查结论 }}
{% if 可再申请 %}如对本复查意见不服，可自收到本意见书之日起{{ 复查期限 }}日内，\
向{{ 复核机关 }}书面提出复核请求。{% else %}本意见为复核意见。信访人对复核意见不服，\
仍以同一事实和理由提出信访诉求的，不再受理。{% endif %}
特此告知。"""

_SPECIAL_REPORT_BODY = """{{ 报送领导 }}：
{{ 收到日期 }}，{{ 信访人 }}等{{ 人数 }}人来访反映{{ 事项标题 }}（登记编号：{{ 事项编号 }}）。\
{% if 代表 %}来访群众推选{{ 代表 }}为代表。{% endif %}现将有关情况专题报告如下：
一、基本情况
{{ 基本情况 }}
二、已采取的措施
{{ 已采取措施 }}
三、意见建议
{{ 意见建议 }}
以上报告妥否，请批示。"""

_INFORMATION_REPORT_BODY = """【{{ 信息类别 }}】{{ 收到日期 }}，{{ 信访人 }}反映{{ 事项标题 }}\
（登记编号：{{ 事项编号 }}）。
一、基本情况
{{ 基本情况 }}
二、处置情况
{{ 处置情况 }}
拟稿：{{ 拟稿人 }}　签发：{{ 签发人 }}（{{ 签发时间 }}）
上报时间：{{ 上报时间 }}"""

_PUBLIC_NOTICE_BODY = """{{ 信访人 }}于{{ 收到日期 }}提出{{ 事项标题 }}的建议。\
经研究，该建议合理可行，现将整改措施{% if 表扬名单 %}和表扬名单{% endif %}公示如下。
一、整改措施
{{ 整改措施 }}
{% if 表扬名单 %}二、表扬名单
对提出合理建议、关心集体的以下人员予以表扬：
{{ 表扬名单 }}
{% endif %}公示期{{ 公示期限 }}日。欢迎大家继续监督，提出意见和建议。
特此公示。"""

_COMPLAINT_RECORD_BODY = """本表与投诉登记台账编号一致，随投诉材料一并存档。"""

TYPES: dict[DocumentKind, DocumentType] = {
    t.kind: t
    for t in (
        DocumentType(
            K.reply_letter,
            "letter",
            (E.report_result,),
            ("workflow.reply",),
            to_petitioner=True,
            statuses=frozenset(
                {S.result_reported, S.replied, S.closed, S.under_review, S.archived}
            ),
            default_title=(
                '{{ 称呼 }}信访事项{% if 答复类型 and 答复类型 != "正式答复" %}'
                "{{ 答复类型 }}书{% else %}答复意见书{% endif %}"
            ),
            default_body=_REPLY_BODY,
        ),
        DocumentType(
            K.acceptance_notice,
            "letter",
            (E.accept, E.instruct, E.assign),
            ("workflow.intake",),
            to_petitioner=True,
            pick="first",
            default_title="受理告知书",
            default_body=_ACCEPTANCE_BODY,
        ),
        DocumentType(
            K.non_acceptance_notice,
            "letter",
            (E.not_accept,),
            ("workflow.intake",),
            to_petitioner=True,
            default_title="不予受理告知书",
            default_body=_NON_ACCEPTANCE_BODY,
        ),
        DocumentType(
            K.handover_notice,
            "letter",
            (E.transfer, E.assign, E.instruct),
            ("workflow.assign", "workflow.intake"),
            default_title="关于{{ 转交方式 }}信访事项的函",
            default_body=_HANDOVER_BODY,
        ),
        DocumentType(
            K.extension_notice,
            "letter",
            (E.decide_extension,),
            ("workflow.reply", "workflow.assign", "workflow.instruct"),
            to_petitioner=True,
            default_title="延期告知书",
            default_body=_EXTENSION_BODY,
        ),
        DocumentType(
            K.supervision_card,
            "form",
            (E.instruct,),
            ("workflow.instruct", "workflow.assign"),
            default_title="信访事项督办卡",
            default_body=_SUPERVISION_BODY,
        ),
        DocumentType(
            K.complaint_notice,
            "form",
            (E.assign, E.instruct),
            ("workflow.assign", "workflow.handle"),
            numbered=False,
            default_title="投诉处理通知单",
            default_body=_COMPLAINT_BODY,
        ),
        DocumentType(
            K.return_letter,
            "letter",
            (E.return_to_sender,),
            ("workflow.intake", "workflow.assign"),
            default_title="退回函",
            default_body=_RETURN_BODY,
        ),
        DocumentType(
            K.callback_record,
            "form",
            (E.callback_added, E.callback_edited),
            ("callback.manage",),
            numbered=False,
            default_title="回访记录表",
            default_body=_CALLBACK_BODY,
        ),
        DocumentType(
            K.review_opinion,
            "letter",
            (E.answer_review, E.answer_re_review),
            ("workflow.review",),
            to_petitioner=True,
            default_title="{{ 意见类型 }}意见书",
            default_body=_REVIEW_BODY,
        ),
        DocumentType(
            K.special_report,
            "letter",
            (E.draft_report,),
            ("workflow.intake", "workflow.assign"),
            default_title="关于{{ 事项标题 }}的专报",
            default_body=_SPECIAL_REPORT_BODY,
        ),
        DocumentType(
            K.information_report,
            "letter",
            # Only a report the leader signed off goes out (see sign_off_report).
            (E.sign_off_report,),
            ("workflow.intake", "workflow.assign", "workflow.instruct"),
            default_title="信访信息：{{ 事项标题 }}",
            default_body=_INFORMATION_REPORT_BODY,
        ),
        DocumentType(
            K.public_notice,
            "letter",
            (E.draft_report,),
            ("workflow.assign", "workflow.reply"),
            default_title="关于{{ 事项标题 }}整改措施的公示",
            default_body=_PUBLIC_NOTICE_BODY,
        ),
        DocumentType(
            K.complaint_record,
            "form",
            # The form grows with the complaint: each later step gives a new, fuller record.
            (
                E.registered,
                E.accept,
                E.not_accept,
                E.report_result,
                E.reply,
                E.callback_added,
                E.callback_edited,
                E.close,
            ),
            ("workflow.intake", "workflow.assign", "callback.manage"),
            numbered=False,
            default_title="客户投诉记录表",
            default_body=_COMPLAINT_RECORD_BODY,
        ),
    )
}


# --- values of the placeholders ---------------------------------------------------------------

#: The deadlines a petitioner is told about when they are extended (延期告知书): the statutory
#: 办结 period and, where a sector promises one, the reply. The internal clocks (承办, 交办 …)
#: are the office's own business and never reach the petitioner.
PETITIONER_DEADLINES = ("closing", "reply")


def _plain(value) -> str:
    """Text typed in a form, with ``\r\n`` line ends and outer blanks removed."""
    if value is None:
        return ""
    return "\n".join(line.rstrip() for line in str(value).replace("\r\n", "\n").split("\n")).strip()


def extension_span(case: Case, data: dict) -> str:
    """How much longer the deadline runs, in words: 30日, 2个工作日, 3小时."""
    from ..enums import TimeUnit

    granted = data.get("granted")
    if granted in (None, ""):
        return ""
    clock = next((c for c in case.clocks if c.kind.value == data.get("clock")), None)
    unit = None if clock is None or clock.fixed_due_on else clock.unit
    if unit == TimeUnit.working_days:
        return f"{granted}个工作日"
    if unit == TimeUnit.hours:
        return f"{granted}小时"
    if unit == TimeUnit.minutes:
        return f"{granted}分钟"
    return f"{granted}日"


def chinese_date(value) -> str:
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            try:
                value = date.fromisoformat(value)
            except ValueError:
                return value
    return format_chinese_date(value)


def _previous_event(case: Case, event: CaseEvent, kind: EventKind) -> CaseEvent | None:
    earlier = [e for e in case.events if e.kind == kind and e.id < event.id]
    return earlier[-1] if earlier else None


def addressee(case: Case) -> str:
    names = [party.name for party in case.petitioners]
    if case.is_anonymous or not names:
        return substitute("信访人")
    if len(names) == 1:
        return names[0]
    return "、".join(names[:3]) + ("等" if len(names) > 3 else "")


def common_values(case: Case, *, unit_name: str, issued_on: date, number: str) -> dict[str, str]:
    from ..custom_fields import placeholder_values

    return {
        **placeholder_values(case),
        "事项编号": case.number or "",
        "事项标题": case.subject or "",
        "信访人": "、".join(p.name for p in case.petitioners) or substitute("信访人"),
        "称呼": addressee(case),
        "信访内容": case.content or "",
        "诉求": case.demands or "",
        "收到日期": chinese_date(case.received_at),
        "受理日期": chinese_date(case.accepted_at),
        "承办单位": case.handling_unit.name if case.handling_unit else "",
        "承办人": case.handler.full_name if case.handler else "",
        "本机关": unit_name,
        "成文日期": format_chinese_date(issued_on),
        "文号": number,
        **sign_off_values(case),
    }


def specific_values(
    kind: DocumentKind, case: Case, event: CaseEvent | None, reply=None
) -> dict[str, str]:
    """``reply``: the reply (``CaseReply``) a reply letter prints; by default the latest
    formal one."""
    data = (event.data if event is not None else None) or {}

    def text(key: str) -> str:
        value = data.get(key)
        return "" if value is None else str(value)

    if kind == K.reply_letter:
        if reply is None:
            reply = latest_formal_reply(case)
        report = [e for e in case.events if e.kind == E.report_result]
        facts = report[-1].data if report and (reply is None or reply.is_formal) else {}
        return {
            "查明事实": _plain(facts.get("facts")),
            # Plain line ends, so the wording can tell a reply that repeats the opinion.
            "处理意见": _plain(facts.get("decision")),
            "答复内容": _plain(reply.text if reply is not None else ""),
            "答复类型": reply.kind.title if reply is not None else ReplyKind.formal.title,
            "复查机关": SystemSetting.get("review_body_name"),
            "复查期限": SystemSetting.get("review_request_days"),
        }
    if kind == K.acceptance_notice:
        closing = next(
            (c for c in case.clocks if c.kind.value == "closing" and c.stopped_at is None), None
        )
        return {"办结期限": chinese_date(closing.due_at) if closing else ""}
    if kind == K.non_acceptance_notice:
        return {"不予受理理由": text("reason"), "法定途径": text("legal_route")}
    if kind == K.handover_notice:
        transfer = event is not None and event.kind == E.transfer
        return {
            "接收单位": text("target_unit") if transfer else text("handling_unit"),
            "转交方式": "转送" if transfer else "交办",
            "转交说明": text("reason") if transfer else (text("note") or text("instruction")),
            "办理期限": chinese_date(data.get("due_on") or data.get("due_at")),
        }
    if kind == K.extension_notice:
        request = _previous_event(case, event, E.request_extension) if event else None
        reason = str(request.data.get("reason") or "") if request else text("note")
        return {
            "延期理由": reason.strip().rstrip("。；，;,."),
            "延长期限": extension_span(case, data),
            "原期限": chinese_date(data.get("old_due_at")),
            "新期限": chinese_date(data.get("due_at")),
            "期限类型": "答复" if data.get("clock") == "reply" else "办结",
        }
    if kind == K.supervision_card:
        return {
            "批示内容": text("instruction") or (case.instruction or ""),
            "批示领导": str(event.created_by.full_name) if event and event.created_by else "",
            "批示日期": chinese_date(event.created_at) if event else "",
            "办理期限": chinese_date(data.get("due_on") or data.get("due_at")),
        }
    if kind == K.complaint_notice:
        return {"办理期限": chinese_date(data.get("due_on") or data.get("due_at"))}
    if kind == K.return_letter:
        return {
            "退回对象": text("returned_to"),
            "退回理由": text("reason"),
            "建议转往": text("suggested_destination"),
        }
    if kind == K.callback_record:
        callback = _callback_of(event)
        return {
            "回访方式": callback.method.title if callback else "",
            "回访时间": (
                to_local(callback.done_at).strftime("%Y年%m月%d日 %H:%M")
                if callback and callback.done_at
                else ""
            ),
            "回访人": callback.caller.full_name if callback and callback.caller else "",
            "被回访人": (callback.person_reached or "") if callback else "",
            "满意度": callback.satisfaction.title if callback and callback.satisfaction else "",
            "回访意见": (callback.opinion or "") if callback else "",
            "问题仍存在": ("是" if callback.problem_remains else "否") if callback else "",
            "已核对收费": ("是" if callback.charges_checked else "否") if callback else "",
            "已签名": ("是" if callback.signature_obtained else "否") if callback else "",
            "跟进措施": callback.follow_up.title if callback else "",
            "回访备注": (callback.note or "") if callback else "",
        }
    if kind == K.review_opinion:
        final = event is not None and event.kind == E.answer_re_review
        label = "复核" if final else "复查"
        request_kind = E.request_re_review if final else E.request_review
        request = _previous_event(case, event, request_kind) if event else None
        upheld = bool(data.get("upheld", True))
        verdict = "维持原处理意见" if upheld else "不维持原处理意见，另行处理"
        return {
            "意见类型": label,
            "申请日期": chinese_date(request.data.get("requested_on")) if request else "",
            "申请理由": str(request.data.get("reason") or "") if request else "",
            "复查意见": text("opinion"),
            "复查结论": f"经{label}，{verdict}。",
            "可再申请": "" if final else "是",
            "复核机关": SystemSetting.get("re_review_body_name"),
            "复查期限": SystemSetting.get("review_request_days"),
        }
    if kind in ISSUE15_KINDS:
        return issue15_values(kind, case, event)
    return {}


# --- issue 15: values of 专报, 信访信息报告, 公示, 客户投诉记录表 ---------------------------------

ISSUE15_KINDS = frozenset(
    {K.special_report, K.information_report, K.public_notice, K.complaint_record}
)
#: Days a 公示 stays posted (printed on the notice).
PUBLIC_NOTICE_DAYS = 7


def _local_minute(value) -> str:
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return to_local(value).strftime("%Y年%m月%d日 %H:%M").replace("年0", "年").replace("月0", "月")


def issue15_values(kind: DocumentKind, case: Case, event: CaseEvent | None) -> dict[str, str]:
    data = (event.data if event is not None else None) or {}

    def text(source: dict, key: str) -> str:
        value = source.get(key)
        return "" if value is None else str(value)

    if kind == K.special_report:
        return {
            "报送领导": text(data, "addressee") or "领导",
            "基本情况": text(data, "facts"),
            "人数": text(data, "head_count") or str(case.head_count),
            "代表": text(data, "representatives"),
            "已采取措施": text(data, "measures"),
            "意见建议": text(data, "proposals"),
            "报告人": event.created_by.full_name if event and event.created_by else "",
        }
    if kind == K.information_report:
        draft = db.session.get(CaseEvent, data["draft"]) if data.get("draft") else None
        drafted = (draft.data if draft is not None else None) or {}
        return {
            "信息类别": text(drafted, "category"),
            "基本情况": text(drafted, "facts"),
            "处置情况": text(drafted, "measures"),
            "拟稿人": draft.created_by.full_name if draft and draft.created_by else "",
            "签发人": event.created_by.full_name if event and event.created_by else "",
            "签发时间": _local_minute(event.created_at) if event else "",
            "上报时间": _local_minute(data.get("reported_at")),
        }
    if kind == K.public_notice:
        from ..commendations import Commendation

        commendations = db.session.scalars(
            sa.select(Commendation)
            .where(Commendation.case_id == case.id)
            .order_by(Commendation.commended_on, Commendation.id)
        ).all()
        return {
            "整改措施": text(data, "measures"),
            "表扬名单": "\n".join(f"{c.party.name}：{c.text}" for c in commendations),
            "公示期限": str(PUBLIC_NOTICE_DAYS),
        }
    return _complaint_record_values(case)


def _complaint_record_values(case: Case) -> dict[str, str]:
    """What the 客户投诉记录表 says at this point of the complaint's life."""
    from ..callbacks import Callback

    def last(*kinds: EventKind) -> CaseEvent | None:
        found = [e for e in case.events if e.kind in kinds]
        return found[-1] if found else None

    decision = last(E.accept, E.not_accept, E.instruct, E.assign)
    if decision is None:
        validity = "待判定"
    elif decision.kind == E.not_accept:
        validity = f"无效：{decision.data.get('reason') or ''}"
    else:
        validity = f"有效（{format_chinese_date(decision.created_at)}受理）"
    result = last(E.report_result)
    handling = ""
    if result is not None:
        handling = "\n".join(
            part for part in (result.data.get("facts"), result.data.get("decision")) if part
        )
    callback = db.session.scalar(
        sa.select(Callback)
        .where(
            Callback.case_id == case.id,
            Callback.is_deleted.is_(False),
            Callback.done_at.is_not(None),
        )
        .order_by(Callback.done_at.desc(), Callback.id.desc())
        .limit(1)
    )
    callback_text = ""
    if callback is not None:
        parts = [f"{_local_minute(callback.done_at)} {callback.method.title}"]
        if callback.satisfaction is not None:
            parts.append(f"满意度：{callback.satisfaction.title}")
        if callback.opinion:
            parts.append(f"客户意见：{callback.opinion}")
        callback_text = tidy_punctuation("；".join(parts))
    closing = last(E.close)
    return {
        "投诉类别": case.category.name if case.category else "",
        "有效性": validity,
        "处理情况": handling,
        "回访情况": callback_text,
        "总结评价": str(closing.data.get("opinion") or "") if closing is not None else "",
    }


def _callback_of(event: CaseEvent | None):
    from .. import db
    from ..callbacks import Callback

    if event is None or event.callback_id is None:
        return None
    return db.session.get(Callback, event.callback_id)


def signature_lines(kind: DocumentKind, values: dict[str, str]) -> list[tuple[str, str]]:
    """Lines signed by hand under a form: (label, printed name and date). The 督办卡 is filled
    in and signed by the leader who instructed (S6)."""
    if kind == K.supervision_card:
        return [("批示领导（签字）", f"{values['批示领导']}　{values['批示日期']}".strip())]
    if kind == K.callback_record:
        # 回访工作制度 三: the person called back signs the record; the caller signs for it and
        # the office checks it.
        return [
            ("回访人（签名）", values["回访人"]),
            ("被回访人（签名）", values["被回访人"]),
            ("审核人（签名）", ""),
        ]
    return []


def contact_phone(case: Case) -> str:
    petitioner = case.petitioners[0] if case.petitioners else None
    if petitioner is None or case.is_anonymous:
        return ""
    return petitioner.phone or ""


def form_rows(
    kind: DocumentKind, values: dict[str, str], contact: str
) -> list[tuple[str, str | None]]:
    """The label/value rows of a form-layout document."""
    if kind == K.supervision_card:
        return [
            ("登记编号", values["事项编号"]),
            ("信访人", values["称呼"]),
            ("收到日期", values["收到日期"]),
            ("信访事项", values["事项标题"]),
            ("主要诉求", values["诉求"] or values["信访内容"]),
            ("领导批示", values["批示内容"]),
            ("批示领导", f"{values['批示领导']}　{values['批示日期']}"),
            ("承办单位", values["承办单位"]),
            ("承办人", values["承办人"]),
            ("办理期限", values["办理期限"]),
            ("办理结果", None),
        ]
    if kind == K.complaint_notice:
        return [
            ("编号", values["事项编号"]),
            # The standard word, so that each sector's 称谓 prints (患者及家属, 业主, 客户 …).
            ("信访人", values["称呼"]),
            ("联系电话", contact or ""),
            ("投诉时间", values["收到日期"]),
            ("投诉事项", values["事项标题"]),
            ("投诉内容", values["信访内容"]),
            ("诉求", values["诉求"]),
            ("承办单位", values["承办单位"]),
            ("处理期限", values["办理期限"]),
            ("处理结果（回执）", None),
        ]
    if kind == K.callback_record:
        return [
            ("登记编号", values["事项编号"]),
            ("信访人", values["称呼"]),
            ("信访事项", values["事项标题"]),
            ("承办单位", values["承办单位"]),
            ("回访方式", values["回访方式"]),
            ("回访时间", values["回访时间"]),
            ("回访人", values["回访人"]),
            ("被回访人", values["被回访人"]),
            ("满意度", values["满意度"]),
            ("问题是否仍存在", values["问题仍存在"]),
            ("是否核对收费", values["已核对收费"]),
            ("被回访人是否签名", values["已签名"]),
            ("信访人意见", values["回访意见"]),
            ("跟进措施", values["跟进措施"]),
            ("备注", values["回访备注"]),
        ]
    if kind == K.complaint_record:
        return [
            ("编号", values["事项编号"]),
            ("客户", values["称呼"]),
            ("联系方式", contact or ""),
            ("投诉时间", values["收到日期"]),
            ("投诉类别", values["投诉类别"]),
            ("投诉内容", values["信访内容"]),
            ("客户诉求", values["诉求"]),
            ("有效性判定", values["有效性"]),
            ("处理情况", values["处理情况"]),
            ("回访情况", values["回访情况"]),
            ("总结评价", values["总结评价"]),
        ]
    return []


def sample_values(kind: DocumentKind) -> dict[str, str]:
    """Made-up values for a template preview when no case is chosen."""
    values = {
        "事项编号": "XF2026-000123",
        "事项标题": "小区电梯长期停运",
        "信访人": "王堃",
        "称呼": "王堃",
        "信访内容": "小区3号楼电梯自2026年1月起停运，物业公司至今未修复。",
        "诉求": "1. 尽快修复电梯；2. 公开维修资金使用情况。",
        "收到日期": "2026年3月1日",
        "受理日期": "2026年3月3日",
        "承办单位": "县住房和城乡建设局",
        "承办人": "李喆",
        "本机关": "示范县人民政府信访局",
        "成文日期": "2026年4月20日",
        "文号": "县信复〔2026〕12号",
        "查明事实": "经现场核查，3号楼电梯因主板损坏于2026年1月5日停运，"
        "物业公司已报修但未落实维修资金。",
        "处理意见": "1. 关于修复电梯的诉求，予以支持：责成物业公司于2026年5月10日前修复。\n"
        "2. 关于公开维修资金的诉求，予以支持：由街道办事处督促业委会于5月底前公示。",
        "答复内容": "",
        "答复类型": "正式答复",
        "复查机关": "示范县人民政府",
        "复查期限": "30",
        "办结期限": "2026年5月2日",
        "不予受理理由": "所反映事项属于劳动争议，依法应通过劳动仲裁解决。",
        "法定途径": "向县劳动人事争议仲裁委员会申请仲裁",
        "接收单位": "县住房和城乡建设局",
        "转交方式": "交办",
        "转交说明": "请核实电梯停运原因并督促修复。",
        "办理期限": "2026年4月15日",
        "延期理由": "需委托第三方机构检测电梯安全状况",
        "延长期限": "30日",
        "原期限": "2026年5月2日",
        "新期限": "2026年6月1日",
        "期限类型": "办结",
        "批示内容": "请住建局牵头，街道配合，尽快解决群众出行困难。",
        "批示领导": "赵玥",
        "批示日期": "2026年3月5日",
        "退回对象": "市信访局",
        "退回理由": "该事项已由县人民法院立案受理，应通过诉讼程序解决。",
        "建议转往": "",
        "回访方式": "电话回访",
        "回访时间": "2026年5月12日 10:30",
        "回访人": "孙赟",
        "被回访人": "王堃",
        "满意度": "满意",
        "回访意见": "电梯已修复，感谢政府。",
        "问题仍存在": "否",
        "已核对收费": "是",
        "已签名": "是",
        "跟进措施": "无需跟进",
        "回访备注": "",
        "意见类型": "复查",
        "申请日期": "2026年5月20日",
        "申请理由": "对维修资金公示范围有异议。",
        "复查意见": "经复查，原处理意见认定事实清楚，处理恰当。",
        "复查结论": "经复查，维持原处理意见。",
        "可再申请": "是",
        "复核机关": "示范市人民政府",
        "报送领导": "县政府领导",
        "基本情况": "3月1日上午，某小区30余名居民到县信访局集体反映基站建设问题，情绪较为激动。",
        "人数": "30",
        "代表": "王堃、李喆、赵玥、孙赟、周龑",
        "已采取措施": "接待人员当即安排代表座谈，耐心解释政策，现场秩序平稳。",
        "意见建议": "建议由县工信局牵头，会同街道于一周内召开听证会。",
        "报告人": "孙赟",
        "信息类别": "重大集体访",
        "处置情况": "已由分管领导接待，群众情绪稳定，已有序离开。",
        "拟稿人": "孙赟",
        "签发人": "赵玥",
        "签发时间": "2026年3月1日 10:20",
        "上报时间": "2026年3月1日 10:30",
        "整改措施": "在3号楼北侧增设自行车停放架40个，4月底前完成。",
        "表扬名单": "王堃：提出增设自行车停放架的合理建议",
        "公示期限": "7",
        "投诉类别": "服务态度",
        "有效性": "有效（2026年3月1日受理）",
        "处理情况": "经核实，维修工程师言语不当，已批评教育并向客户致歉。",
        "回访情况": "2026年3月4日 10:00，电话回访，满意：问题已解决。",
        "总结评价": "投诉属实，处理及时，客户满意。",
    }
    values.update(SIGN_OFF_SAMPLES)
    return {name: values.get(name, "") for name in TYPES[kind].variables}


def latest_formal_reply(case: Case):
    """The case's latest formal reply (``CaseReply``), or ``None``."""
    from ..replies import CaseReply

    return db.session.scalar(
        sa.select(CaseReply)
        .where(CaseReply.case_id == case.id, CaseReply.kind == ReplyKind.formal)
        .order_by(CaseReply.replied_at.desc(), CaseReply.id.desc())
        .limit(1)
    )
