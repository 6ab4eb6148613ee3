"""Message catalogues compiled from their ``.po`` files into the instance folder at start-up.

Flask-Admin 2.2.1 ships a stale ``admin.mo`` for zh_Hans_CN (115 of its messages; "Failed to
create record." and many others stay English), while its ``admin.po`` is complete. We compile
the ``.po`` into the instance folder once and let Flask-Admin look there first.

Our own strings are written in Chinese (the msgids are the Chinese text), so Chinese needs no
catalogue; ``translations/<locale>/LC_MESSAGES/messages.po`` (English) is compiled the same way
and Flask-Babel reads it from the instance folder. Compiled ``.mo`` files are never committed.
"""

from __future__ import annotations

import os
from pathlib import Path

import flask_admin
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask

LOCALE = "zh_Hans_CN"


def compile_po(source: Path, target: Path, locale: str) -> None:
    """Compile ``source`` to ``target`` unless the ``.mo`` is already newer than the ``.po``."""
    if target.is_file() and target.stat().st_mtime >= source.stat().st_mtime:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as handle:
        catalog = read_po(handle, locale=locale)
    temporary = target.with_suffix(f".{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        write_mo(handle, catalog)
    # Atomic, so several workers starting together never read half a file.
    temporary.replace(target)


def compiled_admin_translations(app: Flask) -> str | None:
    source = (
        Path(flask_admin.__file__).parent / "translations" / LOCALE / "LC_MESSAGES" / "admin.po"
    )
    if not source.is_file():
        return None
    root = Path(app.instance_path) / "translations"
    compile_po(source, root / LOCALE / "LC_MESSAGES" / "admin.mo", LOCALE)
    return str(root)


def compiled_app_translations(app: Flask) -> str:
    """Compile ``translations/*/LC_MESSAGES/messages.po``; return the folder for Flask-Babel."""
    root = Path(app.instance_path) / "translations"
    for source in sorted(Path(app.root_path, "translations").glob("*/LC_MESSAGES/messages.po")):
        locale = source.parent.parent.name
        compile_po(source, root / locale / "LC_MESSAGES" / "messages.mo", locale)
    return str(root)
