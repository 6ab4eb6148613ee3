"""The organisation's words: 信访人 → 客户 / 业主 / 患者及家属, 信访事项 → 投诉 …

Code, templates and documents are written once with the standard words of the petition
regulations. An organisation (its preset, then its administrator in 设置 → 称谓) stores pairs
``standard word → its own word`` in the ``vocabulary`` setting (a JSON object). The pairs are
applied on the way out: to every Chinese string that passes through flask_babel (``_()``,
``_l()``, Jinja's ``{{ _('…') }}``, Flask-Admin labels and enum titles, see ``VocabularyDomain``)
and to the literal text of the printed documents (``substitute_template``). People's own data (a
letter's content, a name) is never rewritten.

The pairs are read once per database session (one request) and kept in the session's ``info``;
``load_user`` reads them in the same query as the signed-in user, so a page costs no extra query.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

import sqlalchemy as sa
from flask import g, has_app_context
from flask.globals import _cv_app
from flask_babel import Domain, get_locale, get_translations
from jinja2 import pass_context

from . import db
from .texts import use_translator

#: The setting that holds the pairs, as a JSON object.
VOCABULARY_SETTING = "vocabulary"
#: The standard words an administrator may replace, with what each one means.
STANDARD_WORDS: dict[str, str] = {
    "信访人": "提出事项的人（信访人、客户、业主、患者及家属……）",
    "来信人": "写信的人",
    "来访人": "来访的人",
    "信访事项": "登记办理的一件事（信访事项、投诉……）",
    "信访内容": "登记的内容",
    "信访件": "一件来信来访",
    "复查": "对答复不服时的第一次复核程序",
    "复核": "对复查意见不服时的复核程序",
    "回访": "办结后回访",
}
MAX_WORD_CHARS = 20
_SESSION_KEY = "vocabulary"
_NOT_LOADED = object()


def parse_vocabulary(raw: str | None) -> dict[str, str]:
    """The pairs stored in the setting; anything unreadable counts as no substitution."""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        str(standard): str(word)
        for standard, word in data.items()
        if str(standard).strip() and str(word).strip() and str(standard) != str(word)
    }


def dump_vocabulary(pairs: dict[str, str]) -> str:
    return json.dumps(dict(sorted(pairs.items())), ensure_ascii=False, separators=(",", ":"))


@lru_cache(maxsize=32)
def _substituter(raw: str):
    pairs = parse_vocabulary(raw)
    if not pairs:
        return None
    # Longest first, in one pass: 信访事项 wins over 信访人 and nothing is replaced twice.
    pattern = re.compile("|".join(re.escape(word) for word in sorted(pairs, key=len, reverse=True)))
    return lambda text: pattern.sub(lambda match: pairs[match.group(0)], text)


def vocabulary_subquery():
    """The stored setting as a scalar subquery (``load_user`` selects it with the user)."""
    from .settings import SystemSetting

    return (
        sa.select(SystemSetting.value)
        .where(SystemSetting.key == VOCABULARY_SETTING)
        .scalar_subquery()
    )


def remember_vocabulary(raw: str | None) -> None:
    """Keep the stored value for the rest of this database session (one request)."""
    db.session.info[_SESSION_KEY] = raw or ""
    g.pop(_MEMO_KEY, None)


def forget_vocabulary() -> None:
    if has_app_context():
        db.session.info.pop(_SESSION_KEY, None)
        g.pop(_MEMO_KEY, None)


def _raw_vocabulary() -> str:
    info = db.session.info
    raw = info.get(_SESSION_KEY, _NOT_LOADED)
    if raw is _NOT_LOADED:
        try:
            with db.session.no_autoflush:
                raw = db.session.scalar(sa.select(vocabulary_subquery())) or ""
        except sa.exc.SQLAlchemyError:
            # A failed transaction (an error page after a database error) or no table yet:
            # the standard words, and nothing remembered.
            return ""
        info[_SESSION_KEY] = raw
    return raw


def current_vocabulary() -> dict[str, str]:
    if not has_app_context():
        return {}
    return parse_vocabulary(_raw_vocabulary())


def substitute(text: str) -> str:
    """``text`` with the organisation's words (Chinese pages only)."""
    if not text or not has_app_context():
        return text
    locale = get_locale()
    if locale is not None and locale.language != "zh":
        return text
    raw = _raw_vocabulary()
    if not raw:
        return text
    substituter = _substituter(raw)
    return substituter(text) if substituter else text


@pass_context
def words_filter(_context, text: str) -> str:
    """``{{ '信访事项'|words }}``. Marked as reading the render's context so that Jinja does
    not work it out once when it compiles the template: its optimizer calls a plain filter
    on a literal at compile time, which kept the words of whichever office's settings were
    current at the first render (a changed vocabulary never reached that template again)."""
    return substitute(text)


#: ``{{ … }}`` and ``{% … %}`` of document wording: placeholders keep their standard names.
_TEMPLATE_TAG = re.compile(r"(\{\{.*?\}\}|\{%.*?%\})", re.DOTALL)


def substitute_template(text: str) -> str:
    """Document wording with the organisation's words in its literal text only."""
    if not text:
        return text
    parts = _TEMPLATE_TAG.split(text)
    return "".join(part if index % 2 else substitute(part) for index, part in enumerate(parts))


#: Finished texts (translated, then the organisation's words applied) per ``(locale, stored
#: pairs)``, shared by the process: a page asks for a few hundred texts and, with the context
#: lookups of flask_babel and the substitution, each ask cost more than a dictionary lookup.
_FINISHED: dict[tuple[str, str], dict[str, str]] = {}
#: Where the current context keeps ``(locale, its dictionary of finished texts)``.
_MEMO_KEY = "_finished_texts"
#: More texts than the catalogues hold means texts built from data: start again.
_MAX_FINISHED = 20_000


def _finished_texts() -> dict[str, str] | None:
    """The dictionary of finished texts for this context's locale and pairs (None outside a
    context). ``flask_babel.refresh`` (a new locale) and a changed vocabulary start a new one."""
    # The application context's ``g`` read directly: through the ``g`` proxy this lookup cost
    # as much as the translation it saves.
    app_context = _cv_app.get(None)
    if app_context is None:
        return None
    namespace = app_context.g.__dict__
    memo = namespace.get(_MEMO_KEY)
    if memo is not None:
        babel_context = namespace.get("_flask_babel")
        if memo[0] is getattr(babel_context, "babel_locale", None):
            return memo[1]
    locale = get_locale()
    raw = _raw_vocabulary() if locale is not None and locale.language == "zh" else ""
    key = (str(locale), raw)
    finished = _FINISHED.get(key)
    if finished is None or len(finished) > _MAX_FINISHED:
        if len(_FINISHED) > 16:
            _FINISHED.clear()
        finished = _FINISHED[key] = {}
    namespace[_MEMO_KEY] = (locale, finished)
    return finished


def current_wording() -> dict[str, str] | None:
    """The memo of finished texts this context reads from: the same object while the locale
    and the organisation's words stay the same, a new one when either changes. Renderings made
    only of such texts may be kept as long as it is the same (the main menu does)."""
    return _finished_texts()


def finished_gettext(string: str) -> str:
    """``_()`` of ``string`` with the organisation's words, from the memo when it can be."""
    finished = _finished_texts()
    if finished is None:
        return substitute(get_translations().ugettext(string))
    text = finished.get(string)
    if text is None:
        text = finished[string] = substitute(get_translations().ugettext(string))
    return text


class VocabularyDomain(Domain):
    """flask_babel's message domain, with the organisation's words applied to the translated
    text before the ``%(name)s`` values go in (so people's data is never rewritten). The
    module-level ``gettext`` / ``lazy_gettext`` … call ``get_domain()``, which returns this
    instance once ``install_vocabulary`` made it the Babel default."""

    def gettext(self, string, **variables):
        text = finished_gettext(string)
        return text if not variables else text % variables

    def ngettext(self, singular, plural, num, **variables):
        variables.setdefault("num", num)
        text = substitute(self.get_translations().ungettext(singular, plural, num))
        return text % variables

    def pgettext(self, context, string, **variables):
        text = substitute(self.get_translations().upgettext(context, string))
        return text if not variables else text % variables

    def npgettext(self, context, singular, plural, num, **variables):
        variables.setdefault("num", num)
        text = substitute(self.get_translations().unpgettext(context, singular, plural, num))
        return text % variables


def install_vocabulary(app, babel) -> None:
    """Make ``VocabularyDomain`` the default domain and route Jinja's ``_()`` through it."""
    # Babel.domain_instance is a cached property: setting it replaces the default domain.
    babel.domain_instance = VocabularyDomain(domain=app.config.get("BABEL_DOMAIN", "messages"))
    # Lazy texts (``_l``) skip the domain lookup and read the same memo of finished texts.
    use_translator(finished_gettext)
    # Document templates write their fixed words as ``{{ '信访事项'|words }}``.
    app.jinja_env.filters["words"] = words_filter
    # flask_babel installs Jinja callables that read the catalog directly (bypassing the
    # domain); these add the substitution. ``newstyle`` formatting stays Jinja's.
    app.jinja_env.install_gettext_callables(
        gettext=finished_gettext,
        ngettext=lambda s, p, n: substitute(get_translations().ungettext(s, p, n)),
        newstyle=True,
        pgettext=lambda c, s: substitute(get_translations().upgettext(c, s)),
        npgettext=lambda c, s, p, n: substitute(get_translations().unpgettext(c, s, p, n)),
    )
