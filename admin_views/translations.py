"""Flask-Admin's Simplified Chinese catalogue, compiled from its ``.po`` at start-up.

Flask-Admin 2.2.1 ships a stale ``admin.mo`` for zh_Hans_CN (115 of its messages; "Failed to
create record." and many others stay English), while its ``admin.po`` is complete. We compile
the ``.po`` into the instance folder once and let Flask-Admin look there first.
"""

from __future__ import annotations

import os
from pathlib import Path

import flask_admin
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask

LOCALE = "zh_Hans_CN"


def compiled_admin_translations(app: Flask) -> str | None:
    source = (
        Path(flask_admin.__file__).parent / "translations" / LOCALE / "LC_MESSAGES" / "admin.po"
    )
    if not source.is_file():
        return None
    root = Path(app.instance_path) / "translations"
    target = root / LOCALE / "LC_MESSAGES" / "admin.mo"
    if not target.is_file() or target.stat().st_mtime < source.stat().st_mtime:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(source, "rb") as handle:
            catalog = read_po(handle, locale=LOCALE)
        temporary = target.with_suffix(f".{os.getpid()}.tmp")
        with open(temporary, "wb") as handle:
            write_mo(handle, catalog)
        # Atomic, so several workers starting together never read half a file.
        temporary.replace(target)
    return str(root)
