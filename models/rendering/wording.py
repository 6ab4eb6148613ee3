"""Editable document wording: plain text with ``{{ 占位符 }}`` and ``{% if %}``, sandboxed.

Administrators edit the wording of each document type. The text is compiled by Jinja's
``SandboxedEnvironment`` and, before that, checked node by node: only placeholders from the
document's list, constants, comparisons, ``and``/``or``/``not`` and ``{% if %}`` are allowed — no
loops, calls, attribute access, filters, includes or macros. So a template cannot reach Python
objects, cannot loop forever and cannot read files. Placeholder values are plain strings.

The rendered wording is plain text: one paragraph per line. It reaches the PDF through an
autoescaping template, so markup typed into the wording (or into a petitioner's letter) prints
as text.
"""

from __future__ import annotations

import re

from flask_babel import gettext as _
from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

from models.texts import lazy_gettext as _l

from ..operations import ValidationFailed

MAX_TEMPLATE_CHARS = 6000
MAX_OUTPUT_CHARS = 60000

_environment = SandboxedEnvironment(autoescape=False, keep_trailing_newline=False)

_ALLOWED_NODES = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Name,
    nodes.Const,
    nodes.If,
    nodes.Not,
    nodes.And,
    nodes.Or,
    nodes.Compare,
    nodes.Operand,
    nodes.CondExpr,
)

#: ``一、`` headings print in 黑体, ``（一）`` in 楷体 (GB/T 9704 §7.3.3).
_LEVEL_ONE = re.compile(r"^[一二三四五六七八九十]+、")
_LEVEL_TWO = re.compile(r"^（[一二三四五六七八九十]+）")
#: The closing formula before the signature (特此答复。特此告知。特此函复。…).
_CLOSING = re.compile(r"^特此[\u4e00-\u9fff]{1,4}[。！]?$")
#: Sentence punctuation typed at the end of a value and then followed by the template's own
#: (“……状况。，不能在” or “事项。；法定途径”): the run keeps only its last mark.
_DOUBLED_PUNCTUATION = re.compile(r"[。，；、：！？]+(?=[。，；、])")


def check_template(text: str, allowed_names: set[str], label: str = _l("模板")) -> None:
    """Raise ``ValidationFailed`` with a Chinese message when ``text`` may not be used."""
    if len(text) > MAX_TEMPLATE_CHARS:
        raise ValidationFailed(
            _("%(label)s不能超过 %(limit)s 个字符", label=label, limit=MAX_TEMPLATE_CHARS),
            field="body",
        )
    try:
        tree = _environment.parse(text)
    except TemplateSyntaxError as error:
        raise ValidationFailed(
            _(
                "%(label)s第 %(line)s 行有语法错误：%(error)s",
                label=label,
                line=error.lineno,
                error=error.message,
            ),
            field="body",
        ) from None
    for node in tree.find_all(nodes.Node):
        if not isinstance(node, _ALLOWED_NODES):
            raise ValidationFailed(
                _(
                    "%(label)s只能使用 {{ 占位符 }} 和 {%% if 占位符 %%}……{%% endif %%}，"
                    "不支持“%(node)s”",
                    label=label,
                    node=type(node).__name__,
                ),
                field="body",
            )
        if isinstance(node, nodes.Name) and node.name not in allowed_names:
            raise ValidationFailed(
                _(
                    "%(label)s中的占位符“%(name)s”不存在，可用的占位符见右侧列表",
                    label=label,
                    name=node.name,
                ),
                field="body",
            )


def render_wording(text: str, values: dict[str, str], label: str = _l("模板")) -> str:
    """Fill ``text`` with ``values`` (all strings) after :func:`check_template`."""
    check_template(text, set(values), label)
    output = _environment.from_string(text).render(values)
    if len(output) > MAX_OUTPUT_CHARS:
        raise ValidationFailed(_("%(label)s生成的文字过长", label=label), field="body")
    return output


def tidy_punctuation(text: str) -> str:
    """Collapse a run of Chinese punctuation made by joining sentences to its last mark:
    “因需检测。，不能” → “因需检测，不能”; “事项。；法定途径” → “事项；法定途径”."""
    return _DOUBLED_PUNCTUATION.sub("", text)


def paragraphs(text: str) -> list[tuple[str, str]]:
    """Split wording into ``(style, text)`` paragraphs: one per non-empty line."""
    result = []
    for line in text.splitlines():
        line = tidy_punctuation(line.strip())
        if not line:
            continue
        if _LEVEL_ONE.match(line) and len(line) <= 30:
            style = "level-one"
        elif _LEVEL_TWO.match(line) and len(line) <= 30:
            style = "level-two"
        elif _CLOSING.match(line):
            style = "closing"
        else:
            style = "body"
        result.append((style, line))
    return result
