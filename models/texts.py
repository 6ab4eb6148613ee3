"""``lazy_gettext`` (``_l``) for texts marked when a module is imported: enum titles, column
labels, menu names, messages of validators.

flask_babel's lazy strings find the translation domain through several context proxies every
time they are shown (about 10 µs each), and a case page shows a few hundred of them. Once the
app has installed its vocabulary (``models.vocabulary.install_vocabulary``), these resolve
through the same domain's memo of finished texts (the request's language, then the
organisation's words), so they read exactly the same at a twentieth of the cost. This module
imports nothing of the models, so every model module may use it."""

from __future__ import annotations

from collections.abc import Callable

from flask_babel import gettext as babel_gettext
from flask_babel.speaklater import LazyString

_translate: Callable[[str], str] = babel_gettext


def use_translator(translate: Callable[[str], str]) -> None:
    """Resolve lazy texts with ``translate`` (the vocabulary's memo) from now on."""
    global _translate
    _translate = translate


def _finished(string: str, **variables) -> str:
    text = _translate(string)
    return text if not variables else text % variables


def lazy_gettext(string: str, **variables) -> LazyString:
    """Like ``flask_babel.lazy_gettext``: translated each time it is shown, in that context."""
    return LazyString(_finished, string, **variables)
