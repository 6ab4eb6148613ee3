"""Consistent backups of the database and the stored files, and restoring them.

A backup is one ``.tar.gz`` archive:

- ``database/database.sqlite3`` (SQLite online-backup API, a consistent copy while the app keeps
  running) or ``database/database.pgdump`` (``pg_dump --format=custom``, one snapshot);
- ``files/<FOLDER_KEY>/…``: the attachment folder and every other stored-file folder;
- ``manifest.json``: format, time, database kind, schema revision, rows per table and a SHA-256
  for every file, so a restore can prove it brought everything back.

Restoring replaces the database contents and the file folders. The folders that were there before
are kept beside the new ones (``…replaced-<time>``) rather than deleted: a restore must never be
the thing that loses data.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from .. import db
from ..base import utcnow

BACKUP_FORMAT = 1
#: Config keys naming folders of stored files that belong in every backup. Issued documents and
#: rendered registers live in the database itself, so the dump carries them.
FILE_FOLDER_KEYS = ("ATTACHMENT_FOLDER",)
#: pg_dump and pg_restore get this long before the backup is abandoned.
TOOL_TIMEOUT_SECONDS = 6 * 3600


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message is for the operator, in Chinese."""


@dataclass(frozen=True)
class BackupResult:
    archive: Path
    tables: dict[str, int]
    file_count: int


@dataclass(frozen=True)
class RestoreResult:
    tables: dict[str, int]
    file_count: int
    replaced_folders: list[Path]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _dialect() -> str:
    return db.engine.dialect.name


def _libpq_url() -> tuple[str, dict[str, str]]:
    """The database URL for pg_dump/pg_restore, with the password moved into the environment."""
    url = db.engine.url
    environment = dict(os.environ)
    if url.password:
        environment["PGPASSWORD"] = url.password
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), environment


def _run_tool(arguments: list[str], environment: dict[str, str]) -> None:
    try:
        subprocess.run(  # noqa: S603 - fixed tool name, arguments are ours
            arguments,
            env=environment,
            check=True,
            capture_output=True,
            timeout=TOOL_TIMEOUT_SECONDS,
        )
    except FileNotFoundError as error:
        raise BackupError(
            f"找不到 {arguments[0]}：请安装与数据库服务器版本一致的 PostgreSQL 客户端工具。"
        ) from error
    except subprocess.CalledProcessError as error:
        detail = error.stderr.decode("utf-8", "replace").strip()[-800:]
        raise BackupError(f"{arguments[0]} 执行失败：{detail}") from error


def _table_counts() -> dict[str, int]:
    inspector = sa.inspect(db.engine)
    existing = set(inspector.get_table_names())
    counts = {}
    for table in db.metadata.sorted_tables:
        if table.name in existing:
            counts[table.name] = db.session.execute(
                sa.select(sa.func.count()).select_from(table)
            ).scalar_one()
    return counts


def _schema_revision() -> str | None:
    if not sa.inspect(db.engine).has_table("alembic_version"):
        return None
    return db.session.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _file_folders() -> dict[str, Path]:
    config = current_app.config
    return {key: Path(config[key]) for key in FILE_FOLDER_KEYS if config.get(key)}


def _dump_database(into: Path) -> Path:
    if _dialect() == "sqlite":
        target = into / "database.sqlite3"
        # The online-backup API copies a consistent snapshot page by page while writers go on.
        raw = db.engine.raw_connection()
        try:
            with sqlite3.connect(target) as copy:
                raw.driver_connection.backup(copy)
            copy.close()
        finally:
            raw.close()
        return target
    if _dialect() == "postgresql":
        target = into / "database.pgdump"
        url, environment = _libpq_url()
        _run_tool(
            [
                "pg_dump",
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                f"--file={target}",
                f"--dbname={url}",
            ],
            environment,
        )
        return target
    raise BackupError(f"不支持备份此类数据库：{_dialect()}")


def create_backup(output_dir: Path) -> BackupResult:
    """Write one archive with the database, the stored files and a manifest into ``output_dir``."""
    output_dir.mkdir(parents=True, exist_ok=True)
    # Counted in the same moment as the dump, so the manifest describes what the archive holds.
    db.session.commit()
    tables = _table_counts()
    revision = _schema_revision()
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    archive = output_dir / f"xinfang-backup-{stamp}.tar.gz"
    partial = archive.with_name(archive.name + ".partial")
    files: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as scratch:
        dump = _dump_database(Path(scratch))
        with tarfile.open(partial, "w:gz") as tar:
            tar.add(dump, arcname=f"database/{dump.name}")
            for key, folder in _file_folders().items():
                if not folder.is_dir():
                    continue
                for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                    name = f"files/{key}/{path.relative_to(folder).as_posix()}"
                    files[name] = _sha256(path)
                    tar.add(path, arcname=name)
            manifest = {
                "format": BACKUP_FORMAT,
                "created_at": utcnow().isoformat(),
                "database": _dialect(),
                "dump": f"database/{dump.name}",
                "dump_sha256": _sha256(dump),
                "schema_revision": revision,
                "tables": tables,
                "folders": sorted(_file_folders()),
                "files": files,
            }
            manifest_path = Path(scratch) / "manifest.json"
            manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), "utf-8")
            tar.add(manifest_path, arcname="manifest.json")
    os.chmod(partial, 0o600)
    os.replace(partial, archive)
    return BackupResult(archive=archive, tables=tables, file_count=len(files))


def read_manifest(unpacked: Path) -> dict:
    try:
        manifest = json.loads((unpacked / "manifest.json").read_text("utf-8"))
    except (OSError, ValueError) as error:
        raise BackupError("备份文件缺少有效的清单 manifest.json，不是本系统生成的备份。") from error
    if manifest.get("format") != BACKUP_FORMAT:
        raise BackupError(f"备份格式版本 {manifest.get('format')} 不受支持。")
    return manifest


def _verify(unpacked: Path, manifest: dict) -> None:
    dump = unpacked / manifest["dump"]
    if not dump.is_file() or _sha256(dump) != manifest["dump_sha256"]:
        raise BackupError("备份中的数据库文件缺失或已损坏（校验值不符），未做任何恢复。")
    for name, checksum in manifest["files"].items():
        path = unpacked / name
        if not path.is_file() or _sha256(path) != checksum:
            raise BackupError(f"备份中的文件 {name} 缺失或已损坏（校验值不符），未做任何恢复。")


def _restore_database(dump: Path) -> None:
    db.session.remove()
    # No pooled connection may hold a lock or a stale page while the contents are replaced.
    db.engine.dispose()
    if _dialect() == "sqlite":
        raw = db.engine.raw_connection()
        try:
            with sqlite3.connect(dump) as source:
                source.backup(raw.driver_connection)
            source.close()
        finally:
            raw.close()
    else:
        url, environment = _libpq_url()
        _run_tool(
            [
                "pg_restore",
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                f"--dbname={url}",
                str(dump),
            ],
            environment,
        )
    db.engine.dispose()


def _restore_folders(unpacked: Path, manifest: dict, stamp: str) -> list[Path]:
    replaced = []
    for key, target in _file_folders().items():
        if key not in manifest["folders"]:
            continue
        source = unpacked / "files" / key
        staged = target.with_name(f"{target.name}.restoring-{stamp}")
        if source.is_dir():
            shutil.copytree(source, staged)
        else:
            staged.mkdir(parents=True)
        if target.exists():
            kept = target.with_name(f"{target.name}.replaced-{stamp}")
            target.rename(kept)
            replaced.append(kept)
        staged.rename(target)
    return replaced


def restore_backup(archive: Path) -> RestoreResult:
    """Bring back the database and files of ``archive``; verifies everything before changing any."""
    if not archive.is_file():
        raise BackupError(f"找不到备份文件：{archive}")
    with tempfile.TemporaryDirectory() as scratch:
        unpacked = Path(scratch)
        try:
            with tarfile.open(archive, "r:gz") as tar:
                # The "data" filter refuses absolute paths, links out of the folder and devices.
                tar.extractall(unpacked, filter="data")
        except (tarfile.TarError, OSError, EOFError) as error:
            raise BackupError(f"无法读取备份文件（{error}），未做任何恢复。") from error
        manifest = read_manifest(unpacked)
        if manifest["database"] != _dialect():
            raise BackupError(
                f"这份备份来自 {manifest['database']} 数据库，当前使用的是 {_dialect()}，"
                "不能直接恢复。请在同类数据库上恢复。"
            )
        current_revision = _schema_revision()
        if manifest["schema_revision"] and current_revision not in (
            None,
            manifest["schema_revision"],
        ):
            # Restoring replaces the schema too; the operator then runs `flask db upgrade`.
            current_app.logger.warning(
                "restoring schema revision %s over %s",
                manifest["schema_revision"],
                current_revision,
            )
        _verify(unpacked, manifest)
        _restore_database(unpacked / manifest["dump"])
        stamp = utcnow().strftime("%Y%m%d-%H%M%S")
        replaced = _restore_folders(unpacked, manifest, stamp)
    tables = _table_counts()
    missing = {
        name: (count, tables.get(name))
        for name, count in manifest["tables"].items()
        if tables.get(name) != count
    }
    if missing:
        raise BackupError(f"恢复后的行数与备份清单不符：{missing}")
    return RestoreResult(
        tables=tables, file_count=len(manifest["files"]), replaced_folders=replaced
    )
