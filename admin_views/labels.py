"""Chinese column labels shared by the views."""

from flask_babel import lazy_pgettext

from models.texts import lazy_gettext as _l

COMMON_LABELS = {
    "number": _l("登记编号"),
    # The menu says "Cases"; a field holding one case needs its own English word.
    "case": lazy_pgettext("field", "信访事项"),
    "case.number": _l("登记编号"),
    "subject": _l("事项标题"),
    "content": _l("反映内容"),
    "demands": _l("诉求"),
    "channel": _l("来源渠道"),
    "category": _l("分类"),
    "priority": _l("紧急程度"),
    "status": _l("状态"),
    "received_at": _l("收到时间"),
    "petitioners": _l("信访人"),
    "petitioner_names": _l("信访人"),
    "agent": _l("代理人"),
    "handling_unit": _l("承办单位"),
    "handler": _l("承办人"),
    "repeat_count": _l("重复信访次数"),
    "assistants": _l("协办人"),
    "is_important": _l("重要"),
    "is_major": _l("重大"),
    "is_difficult": _l("疑难复杂"),
    "is_sensitive": _l("敏感"),
    "is_beyond_level": _l("越级访"),
    "is_abnormal": _l("异常访"),
    "is_anonymous": _l("匿名"),
    "is_group": _l("集体访/联名"),
    "is_investigation_order": _l("上级交办查处件"),
    "head_count": _l("人数"),
    "representatives": _l("代表人"),
    "created_at": _l("登记时间"),
    "updated_at": _l("修改时间"),
    "created_by": _l("登记人"),
    "is_first_contact": _l("首次来信/访/电"),
    "name": _l("名称"),
    "is_active": _l("启用"),
    "sort_order": _l("排序"),
    "parent": _l("上级"),
    "kind": _l("类型"),
    "description": _l("说明"),
    "note": _l("备注"),
}


def labels(**extra) -> dict:
    merged = dict(COMMON_LABELS)
    merged.update(extra)
    return merged
