"""Writing stored files whole or not at all, with a message a person understands when the disk
refuses (full, read-only, no permission)."""

from __future__ import annotations

import errno
import logging
import os
from contextlib import suppress
from pathlib import Path

from flask_babel import gettext as _

from .operations import ValidationFailed

logger = logging.getLogger(__name__)

#: Suffix of a file being written; backups skip such names.
PARTIAL_SUFFIX = ".partial"
_CHUNK = 1 << 20


class StorageFailed(ValidationFailed):
    """The server could not store a file; ``str(error)`` says why, in Chinese."""


def storage_message(error: OSError) -> str:
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return _("服务器磁盘空间已满，文件没有保存。请联系管理员清理磁盘后再试。")
    if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR):
        return _("服务器的文件存储目录不可写（只读或没有权限），文件没有保存。请联系管理员。")
    return _(
        "文件没有保存到服务器（%(reason)s），请稍后再试或联系管理员。",
        reason=error.strerror or type(error).__name__,
    )


def write_new_file(path: Path, data: bytes, mode: int = 0o640) -> None:
    """Write ``data`` as the new file ``path``: into a temporary name beside it, synced, then
    renamed. On any disk error nothing is left behind and ``StorageFailed`` is raised."""
    partial = path.with_name(f".{path.name}{PARTIAL_SUFFIX}")
    descriptor = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        view = memoryview(data)
        while view:
            written = os.write(descriptor, view[:_CHUNK])
            view = view[written:]
        os.fsync(descriptor)
        os.close(descriptor)
        descriptor = None
        os.chmod(partial, mode)
        if path.exists():
            raise FileExistsError(errno.EEXIST, "file exists", str(path))
        os.replace(partial, path)
    except OSError as error:
        if descriptor is not None:
            with suppress(OSError):
                os.close(descriptor)
        with suppress(OSError):
            partial.unlink()
        logger.error("could not write %s: %s", path, error)
        raise StorageFailed(storage_message(error), field="file") from error


def remove_file(path: Path) -> None:
    """Remove a file written for a change that did not happen after all."""
    with suppress(OSError):
        path.unlink()
