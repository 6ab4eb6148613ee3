"""Pages for the public (nobody signed in): 网上信访 and 进度查询."""

from __future__ import annotations

from flask import Flask

from .limits import install_limiter
from .petition import install_petition


def init_public(app: Flask) -> None:
    install_limiter(app)
    install_petition(app)
