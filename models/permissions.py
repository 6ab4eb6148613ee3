"""Permission names and the default roles (decisions.md "Roles").

The role table stores a list of these names per role, so administrators can change what a role
may do without code changes; this module is the single list of names that exist.
"""

from __future__ import annotations

from .texts import lazy_gettext as _l

PERMISSIONS: dict[str, str] = {
    "case.view": _l("查看经手和本单位的信访事项及其来信、来访、来电、回访、附件"),
    "case.view_all": _l("查看全部单位的信访事项"),
    "case.register": _l("登记来信、来访、来电和信访事项"),
    "case.edit": _l("修改信访事项及其来信、来访、来电"),
    "case.delete": _l("删除（作废）信访事项"),
    "case.export": _l("导出信访事项、来信、来访、来电和回访清单（CSV/Excel）"),
    "party.manage": _l("维护信访人资料"),
    "workflow.intake": _l("受理、不予受理、存信、当场答复、拟办和送阅"),
    "workflow.instruct": _l("领导批示和延期审批"),
    "workflow.assign": _l("交办、转办、退回、催办、退回重办、重新办理、合并与拆分"),
    "workflow.handle": _l("签收、调查、中途报告、延期申请、暂停计时和报结"),
    "workflow.approve": _l("审核报结、批准协办（部门负责人）"),
    "workflow.reply": _l("答复信访人"),
    "workflow.close": _l("办结事项"),
    "workflow.sign_off": _l("签批办结意见（领导）"),
    "workflow.review": _l("登记复查、复核申请和意见"),
    "workflow.archive": _l("归档和销毁存信"),
    "retention.destroy": _l("按批次销毁到期存信（删除内容和个人信息，只留销毁记录）"),
    "callback.manage": _l("登记和修改回访、分派回访任务、下达回访整改通知"),
    "survey.manage": _l("满意度调查：问卷模板、调查、录入回收问卷、整改单"),
    "survey.view": _l("查看满意度调查结果和调查报告"),
    "attachment.manage": _l("上传和删除附件"),
    "confidential.view": _l("查看保密信息（举报人身份）"),
    "stats.view": _l("查看统计"),
    "audit.view": _l("查看时间线与审计记录"),
    "audit.read_log": _l("查看系统审计日志（登录、增删改、导出、打印、保密信息查看）"),
    "settings.manage": _l("维护单位、分类和系统设置"),
    "user.manage": _l("维护用户和角色"),
    "reception.manage": _l("来访接待：预约、通行证、接待排队、意见箱"),
    "reception.approve": _l("审批来访申请"),
    "reception.schedule": _l("维护接待日安排、接待领导和代班"),
    "document.print": _l("出具和打印事项文书（告知书、答复意见书、督办卡等）"),
    "register.print": _l("打印登记台账"),
}

ALL_PERMISSIONS = frozenset(PERMISSIONS)

#: code -> (Chinese name, permissions). Codes are stable; names and permissions are editable.
DEFAULT_ROLES: dict[str, tuple[str, frozenset[str]]] = {
    "admin": ("系统管理员", ALL_PERMISSIONS),
    "registrar": (
        "登记员",
        frozenset(
            {
                "document.print",
                "register.print",
                "case.view",
                "case.view_all",
                "case.register",
                "case.edit",
                "party.manage",
                "reception.manage",
                "attachment.manage",
                "audit.view",
                "workflow.intake",
            }
        ),
    ),
    "handler": (
        "承办人",
        frozenset(
            {
                "document.print",
                "case.view",
                "case.edit",
                "callback.manage",
                "attachment.manage",
                "audit.view",
                "workflow.handle",
            }
        ),
    ),
    "dept_head": (
        "部门负责人",
        frozenset(
            {
                "document.print",
                "case.view",
                "case.edit",
                "case.export",
                "callback.manage",
                "survey.manage",
                "survey.view",
                "attachment.manage",
                "audit.view",
                "stats.view",
                "reception.approve",
                "workflow.handle",
                "workflow.approve",
            }
        ),
    ),
    "office": (
        "信访办/办公室",
        frozenset(
            {
                "document.print",
                "register.print",
                "case.view",
                "case.view_all",
                "case.register",
                "case.edit",
                "case.delete",
                "case.export",
                "confidential.view",
                "party.manage",
                "reception.manage",
                "reception.schedule",
                "callback.manage",
                "survey.manage",
                "survey.view",
                "attachment.manage",
                "audit.view",
                "stats.view",
                "workflow.intake",
                "workflow.assign",
                "workflow.reply",
                "workflow.close",
                "workflow.review",
                "workflow.archive",
            }
        ),
    ),
    "leader": (
        "领导",
        frozenset(
            {
                "document.print",
                "case.view",
                "case.view_all",
                "case.export",
                "confidential.view",
                "audit.view",
                "stats.view",
                "survey.view",
                "reception.approve",
                "workflow.instruct",
                "workflow.sign_off",
                "workflow.review",
            }
        ),
    ),
    "supervisor": (
        "监督",
        frozenset(
            {
                "register.print",
                "case.view",
                "case.view_all",
                "case.export",
                "audit.view",
                "audit.read_log",
                "stats.view",
                "survey.view",
            }
        ),
    ),
}
