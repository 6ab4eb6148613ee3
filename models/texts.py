"""``lazy_gettext`` (``_l``) for texts marked when a module is imported: enum titles, column
labels, menu names, messages of validators.

flask_babel's lazy strings find the translation domain through several context proxies every
time they are shown (about 10 µs each), and a case page shows a few hundred of them. These
resolve through the same domain's memo of finished texts (``models/vocabulary.py``: the
request's language, then the organisation's words), so they read exactly the same, at a
twentieth of the cost."""

from __future__ import annotations

from flask_babel.speaklater import LazyString

from .vocabulary import finished_gettext


def _finished(string: str, **variables) -> str:
    text = finished_gettext(string)
    return text if not variables else text % variables


def lazy_gettext(string: str, **variables) -> LazyString:
    """Like ``flask_babel.lazy_gettext``: translated each time it is shown, in that context."""
    return LazyString(_finished, string, **variables)
