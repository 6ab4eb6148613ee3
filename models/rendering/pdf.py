"""The one place HTML becomes PDF.

Every render goes through :func:`render_pdf` (or :func:`render_document` for geometry checks),
which always uses :class:`RestrictedFetcher`: WeasyPrint may read the app's own style sheets and
fonts under ``models/rendering/assets`` and nothing else — no ``file:`` path elsewhere, no
``http:``/``https:``/``ftp:``, no ``data:`` URL. User text must reach the HTML through an
autoescaping template; the fetcher is the second wall behind that.

A render runs in a forked child process with a wall-clock limit and an address-space limit, so a
runaway document cannot take the web worker with it, and it dies with the process that started it
(a killed job worker leaves no orphan render); it fails with :class:`RenderError`, whose
message is Chinese and meant for staff. :func:`render_pdf_in_parts` lays out the consecutive
parts of a long register in several such processes at once and joins them with pypdf.
"""

from __future__ import annotations

import io
import logging
import multiprocessing
import multiprocessing.connection
import os
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from urllib.parse import unquote, urlsplit

from flask_babel import gettext as _
from weasyprint import HTML
from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

logger = logging.getLogger(__name__)

#: The only directory a render may read from: the app's document style sheets and fonts.
ASSETS_DIR = Path(__file__).resolve().parent / "assets"
#: Relative URLs in document HTML (``href="documents.css"``) resolve against this.
ASSETS_BASE_URL = ASSETS_DIR.as_uri() + "/"
#: File types the fetcher serves from ``ASSETS_DIR``.
ALLOWED_SUFFIXES = {
    ".css": "text/css",
    ".otf": "font/otf",
    ".ttf": "font/ttf",
    ".ttc": "font/collection",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
}

DEFAULT_TIMEOUT_SECONDS = 60
DEFAULT_MEMORY_LIMIT_MB = 1536


class RenderError(Exception):
    """A document could not be rendered; ``str(error)`` is a Chinese message for staff."""


class FetchRefused(FatalURLFetchingError):
    """The document asked for a resource outside the allow-list; the render stops."""

    def __init__(self, url: str):
        super().__init__(url)
        self.url = url


class RestrictedFetcher(URLFetcher):
    """Serve files under :data:`ASSETS_DIR` with an allowed suffix; refuse everything else.

    Refusal raises :class:`FetchRefused`, a fatal error for WeasyPrint, so a template that
    points anywhere else fails loudly instead of silently printing without the resource.
    """

    def __init__(self):
        super().__init__(allowed_protocols={"file"}, allow_redirects=False, timeout=1)

    @staticmethod
    def allowed_path(url: str) -> Path | None:
        parts = urlsplit(url)
        if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
            return None
        if parts.query or parts.fragment:
            return None
        try:
            path = Path(unquote(parts.path)).resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not path.is_relative_to(ASSETS_DIR) or not path.is_file():
            return None
        if path.suffix.lower() not in ALLOWED_SUFFIXES:
            return None
        return path

    def fetch(self, url, headers=None):
        path = self.allowed_path(url)
        if path is None:
            logger.warning("document render refused to fetch %.200s", url)
            raise FetchRefused(url)
        return URLFetcherResponse(
            path.as_uri(),
            path.read_bytes(),
            headers={"Content-Type": ALLOWED_SUFFIXES[path.suffix.lower()]},
        )


# --- CJK justification -------------------------------------------------------------------------

#: Han ideographs, kana and full-width forms: a line holding any of them is justified between
#: characters (CSS Text 3 ``text-justify: inter-character``), as Chinese typesetting does.
_CJK_RANGES = (
    (0x3000, 0x303F),
    (0x3040, 0x30FF),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0xFF00, 0xFFEF),
    (0x20000, 0x2FA1F),
)


def _is_cjk(char: str) -> bool:
    return any(lo <= ord(char) <= hi for lo, hi in _CJK_RANGES)


def _line_text(box) -> str:
    from weasyprint.formatting_structure import boxes

    if isinstance(box, boxes.TextBox):
        return box.text
    if isinstance(box, (boxes.LineBox, boxes.InlineBox)):
        return "".join(_line_text(child) for child in box.children if child.is_in_normal_flow())
    return ""


def _expansion_points(text: str) -> list[bool]:
    """For each character of a line: may space be added after it? Everywhere except inside a
    run of Latin letters or digits (a number, a case number stays in one piece) and after the
    line's last character."""
    points = []
    for index, char in enumerate(text[:-1]):
        following = text[index + 1]
        inside_word = not _is_cjk(char) and not _is_cjk(following) and not following.isspace()
        points.append(not inside_word and not char.isspace())
    return [*points, False] if text else []


def _spread_letters(context, box, points: list[bool], per_point: float, state: dict):
    """Widen the gaps of ``box`` marked in ``points`` by ``per_point``, moving what follows.

    A text box is cut into pieces that are spread alike (letter spacing is one value per
    box): "至2026年" becomes "至", "202", "6年" when the gaps inside the number stay closed.
    Returns the boxes that replace ``box``."""
    from weasyprint.formatting_structure import boxes
    from weasyprint.text.line_break import create_layout, line_size

    advance = state["advance"]
    if isinstance(box, boxes.TextBox):
        start = state["index"]
        state["index"] += len(box.text)
        flags = points[start : state["index"]]
        pieces, x = [], box.position_x + advance
        old_right = box.position_x + box.width
        piece_start = 0
        for index in range(1, len(box.text) + 1):
            if index < len(box.text) and flags[index] == flags[piece_start]:
                continue
            text = box.text[piece_start:index]
            piece = box.copy_with_text(text) if len(pieces) or index < len(box.text) else box
            style = box.style.copy()
            base = style["letter_spacing"]
            base = 0 if base == "normal" else base
            style["letter_spacing"] = base + (per_point if flags[piece_start] else 0)
            layout = create_layout(text, style, context, max_width=None, justification_spacing=0)
            first_line, _index = layout.get_first_line()
            piece.width = line_size(first_line, style)[0]
            layout.deactivate()
            piece.style = style
            piece.pango_layout = layout
            piece.text = text
            piece.position_x = x
            x += piece.width
            pieces.append(piece)
            piece_start = index
        state["advance"] = x - old_right
        return pieces
    if isinstance(box, (boxes.LineBox, boxes.InlineBox)):
        box.position_x += advance
        children = []
        for child in box.children:
            if child.is_in_normal_flow():
                children.extend(_spread_letters(context, child, points, per_point, state))
            else:
                children.append(child)
        box.children = tuple(children)
        box.width += state["advance"] - advance
        return [box]
    box.translate(advance, 0)
    return [box]


def _install_cjk_justification() -> None:
    """Make ``text-align: justify`` reach the margin on Chinese lines.

    WeasyPrint justifies by widening spaces only, and Chinese has none: a line that breaks
    before a number or a Latin word ("…至2026年") stops short of the right margin. For lines
    holding CJK text the leftover width is shared out between the characters instead, as
    letter spacing, so the last glyph ends at the margin; numbers and Latin words keep their
    own spacing (CSS Text 3 ``text-justify: inter-character``). Wraps WeasyPrint's ``justify_line``,
    an internal name; if it moves, documents still render, only ragged.
    """
    import weasyprint.layout.inline as inline

    original = getattr(inline, "justify_line", None)
    if original is None or getattr(original, "cjk_justification", False):  # pragma: no cover
        return

    def justify_line(context, line, extra_width):
        text = _line_text(line)
        points = _expansion_points(text)
        if extra_width <= 0 or not any(points) or not any(map(_is_cjk, text)):
            return original(context, line, extra_width)
        state = {"advance": 0, "index": 0}
        _spread_letters(context, line, points, extra_width / sum(points), state)
        return None

    justify_line.cjk_justification = True
    inline.justify_line = justify_line


_install_cjk_justification()


def render_document(html: str):
    """Lay ``html`` out in this process and return the WeasyPrint ``Document`` (boxes, pages).

    No time or memory limit: for tests and measurements; production code uses
    :func:`render_pdf`.
    """
    try:
        return HTML(string=html, base_url=ASSETS_BASE_URL, url_fetcher=RestrictedFetcher()).render()
    except FetchRefused as refused:
        raise _refused(refused) from None


def _refused(refused: FetchRefused) -> RenderError:
    return RenderError(
        _("文书中引用了不允许的外部资源（%(url)s），已停止生成。", url=refused.url[:80])
    )


def _write_pdf(html: str) -> bytes:
    document = render_document(html)
    try:
        # Attachments are fetched while writing, through the same fetcher. Fonts are subset
        # (the default); never full_fonts, which embeds tens of MB of CJK outlines.
        return document.write_pdf()
    except FetchRefused as refused:
        raise _refused(refused) from None


PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel kill this process when the thread that forked it ends (Linux
    ``prctl(PR_SET_PDEATHSIG, SIGKILL)``), so a killed job worker leaves no render running;
    if the parent is already gone, end now."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the alarm still ends it
            logger.warning("render process cannot ask to die with its parent")
    if os.getppid() != parent_pid:
        os._exit(1)


def _child(
    work, memory_limit_mb: int, timeout: int, sender, report_pages: bool, parent_pid: int
) -> None:
    """Body of a render process: limits first, then ``work()`` (returns the PDF bytes), then
    report through the pipe."""
    die_with_parent(parent_pid)
    try:
        limit = _current_address_space() + memory_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        # A second, in-process alarm: the parent also kills us, this just ends cleanly first.
        signal.alarm(timeout + 1)
        if report_pages:
            _report_pages_to(sender)
        sender.send(("ok", work()))
    except RenderError as error:
        sender.send(("render_error", str(error)))
    except MemoryError:
        sender.send(("memory", ""))
    except BaseException as error:  # report anything to the parent
        sender.send(("error", f"{type(error).__name__}: {error}"[:300]))
    finally:
        sender.close()


def _report_pages_to(sender) -> None:
    """Send ("page", n) after each laid-out page (for progress bars of long registers).

    Wraps WeasyPrint's page loop, an internal name; if it moves, renders still work, only
    without page progress.
    """
    import weasyprint.layout as layout

    original = getattr(layout, "make_all_pages", None)
    if original is None:  # pragma: no cover - depends on WeasyPrint internals
        return

    def counting(*args, **kwargs):
        for number, page in enumerate(original(*args, **kwargs), start=1):
            sender.send(("page", number))
            yield page

    layout.make_all_pages = counting


def _current_address_space() -> int:
    """Virtual size of this process in bytes (the fork inherits the parent's mappings)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def _fork_available() -> bool:
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


def render_pdf(
    html: str,
    *,
    timeout: int | None = None,
    memory_limit_mb: int | None = None,
    on_page: Callable[[int], None] | None = None,
) -> bytes:
    """Render ``html`` to PDF bytes, or raise :class:`RenderError` with a Chinese message.

    ``timeout`` (seconds, default 60) and ``memory_limit_mb`` (address space the render may
    add, default 1536) bound the render; both can also be set app-wide with the
    ``DOCUMENT_RENDER_TIMEOUT`` and ``DOCUMENT_RENDER_MEMORY_MB`` config keys. ``on_page`` is
    called with the number of pages laid out so far, for progress reports.
    """
    timeout, memory_limit_mb = _limits(timeout, memory_limit_mb)
    if not _fork_available():  # pragma: no cover - Linux servers fork
        return _write_pdf(html)
    _warm_up()
    deadline = time.monotonic() + timeout
    (pdf,) = _run_children([partial(_write_pdf, html)], timeout, deadline, memory_limit_mb, on_page)
    return pdf


def render_pdf_in_parts(
    parts: list[str],
    page_footer: Callable[[int], str],
    *,
    timeout: int | None = None,
    memory_limit_mb: int | None = None,
    on_page: Callable[[int], None] | None = None,
) -> bytes:
    """Render consecutive ``parts`` of one long document at the same time, one process each,
    and join them into one PDF; ``page_footer(total_pages)`` is the HTML of the page footers
    ("第 N 页 共 M 页"), stamped over the joined pages. The parts themselves carry no footer:
    only once every part is laid out is the total known.

    Layout is single-threaded Python, so on a machine with two cores two parts take about
    half the time of one document. Limits as in :func:`render_pdf`, the memory limit per
    process; ``on_page`` receives the pages laid out by all parts together.
    """
    timeout, memory_limit_mb = _limits(timeout, memory_limit_mb)
    if not _fork_available():  # pragma: no cover - Linux servers fork
        return _stamp_footers([_write_pdf(part) for part in parts], page_footer)
    _warm_up()
    deadline = time.monotonic() + timeout
    pdfs = _run_children(
        [partial(_write_pdf, part) for part in parts],
        timeout,
        deadline,
        memory_limit_mb,
        on_page,
    )
    # Joining and stamping is CPU work too: in its own process, so a web worker that runs a
    # local job thread keeps answering.
    (pdf,) = _run_children(
        [partial(_stamp_footers, pdfs, page_footer)], timeout, deadline, memory_limit_mb
    )
    return pdf


def _stamp_footers(pdfs: list[bytes], page_footer: Callable[[int], str]) -> bytes:
    from pypdf import PdfReader, PdfWriter

    readers = [PdfReader(io.BytesIO(pdf)) for pdf in pdfs]
    total = sum(len(reader.pages) for reader in readers)
    footers = PdfReader(io.BytesIO(_write_pdf(page_footer(total)))).pages
    writer = PdfWriter()
    for reader in readers:
        for page in reader.pages:
            writer.add_page(page)
    for page, footer in zip(writer.pages, footers, strict=True):
        page.merge_page(footer)
        # Merging leaves the page's content uncompressed: four times the file size.
        page.compress_content_streams()
    if readers[0].metadata:
        writer.add_metadata(dict(readers[0].metadata))
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


def _run_children(
    works: list[Callable[[], bytes]],
    timeout: int,
    deadline: float,
    memory_limit_mb: int,
    on_page: Callable[[int], None] | None = None,
) -> list[bytes]:
    """Run each of ``works`` in its own forked, limited process at once; their results in
    order, or :class:`RenderError` (all processes are then stopped)."""
    context = multiprocessing.get_context("fork")
    processes, receivers = [], []
    for work in works:
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(
            target=_child,
            args=(work, memory_limit_mb, timeout, sender, on_page is not None, os.getpid()),
            daemon=True,
        )
        process.start()
        sender.close()
        processes.append(process)
        receivers.append(receiver)
    pages = [0] * len(works)
    results: dict[int, bytes] = {}
    failure = None
    try:
        while failure is None and len(results) < len(works):
            waiting = [r for index, r in enumerate(receivers) if index not in results]
            ready = multiprocessing.connection.wait(waiting, max(0.0, deadline - time.monotonic()))
            if not ready:
                raise RenderError(
                    _(
                        "文书生成超过 %(seconds)s 秒仍未完成，已停止。请缩小范围后重试。",
                        seconds=timeout,
                    )
                )
            for receiver in ready:
                index = receivers.index(receiver)
                try:
                    status, payload = receiver.recv()
                except (EOFError, OSError):
                    status, payload = "crashed", ""
                if status == "page":
                    pages[index] = payload
                    if on_page is not None:
                        on_page(sum(pages))
                elif status == "ok":
                    results[index] = payload
                else:
                    failure = status, payload
                    break
    finally:
        for receiver in receivers:
            receiver.close()
        for process in processes:
            if process.is_alive():
                process.kill()
            process.join(5)
    if failure is None:
        return [results[index] for index in range(len(works))]
    status, payload = failure
    if status == "memory":
        raise RenderError(
            _(
                "文书生成所需内存超过 %(megabytes)s MB 上限，已停止。请缩小范围后重试。",
                megabytes=memory_limit_mb,
            )
        )
    if status == "crashed":
        # Native code (Pango, cairo) that hits the address-space limit aborts instead of
        # raising MemoryError, so a dead child is most likely out of memory.
        raise RenderError(
            _(
                "文书生成进程意外退出（可能超过 %(megabytes)s MB 内存上限），"
                "请缩小范围后重试或联系管理员。",
                megabytes=memory_limit_mb,
            )
        )
    if status == "render_error":
        raise RenderError(payload)
    logger.error("document render failed: %s", payload)
    raise RenderError(_("文书生成失败，请稍后重试或联系管理员。"))


def _limits(timeout: int | None, memory_limit_mb: int | None) -> tuple[int, int]:
    from flask import current_app, has_app_context

    config = current_app.config if has_app_context() else {}
    if timeout is None:
        timeout = int(config.get("DOCUMENT_RENDER_TIMEOUT", DEFAULT_TIMEOUT_SECONDS))
    if memory_limit_mb is None:
        memory_limit_mb = int(config.get("DOCUMENT_RENDER_MEMORY_MB", DEFAULT_MEMORY_LIMIT_MB))
    return max(1, int(timeout)), max(64, int(memory_limit_mb))


_warm = False
_warm_lock = threading.Lock()


def _warm_up() -> None:
    """Load fontconfig, Pango and the CJK faces once in the parent, so every forked render
    starts warm instead of paying the font set-up each time.

    Other threads wait until the warm-up render has finished: a thread of a gthread worker
    that forked while this one was inside fontconfig or Pango would hand the child their
    locks held, and the child would hang until the render timeout (seen under 20 clients)."""
    global _warm
    if _warm:
        return
    with _warm_lock:
        if _warm:
            return
        try:
            render_document(
                "<html><body style=\"font-family: 'Noto Serif CJK SC', 'Noto Sans CJK SC'\">"
                "信访通</body></html>"
            )
        except Exception:  # warming is an optimisation only
            logger.exception("document renderer warm-up failed")
        _warm = True
