"""Consistent backups of the database and the stored files, restoring them, and restore drills.

A backup is one ``.tar.gz`` archive:

- ``database/database.sqlite3`` (SQLite online-backup API into a copy) or
  ``database/database.pgdump`` (``pg_dump --format=custom --snapshot=…``);
- ``files/<FOLDER_KEY>/…``: the attachment folder and every other stored-file folder;
- ``manifest.json``: format, time, database kind, schema revision, rows per table and a SHA-256
  for every file. The rows and the schema revision are read from the very snapshot the dump
  holds (PostgreSQL: one REPEATABLE READ transaction whose snapshot pg_dump imports; SQLite:
  counted in the copy), so a backup taken while staff work still matches its own manifest;
- ``manifest.hmac``: HMAC-SHA256 of ``manifest.json`` with the backup key, which is kept outside
  the archive (``BACKUP_KEY``, or derived from ``SECRET_KEY``). An archive edited together with
  its checksums is refused.

A restore proves the whole archive first: the signature, every checksum, no stray members, a
schema revision this release knows, and the rows, by restoring the dump into a scratch database
(PostgreSQL) or reading the copy (SQLite) and counting it. Only then are the live database and the
file folders replaced; a failure before that point leaves them exactly as they were. The folders
that were there before are kept beside the new ones (``…replaced-<time>``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from .. import db
from ..base import utcnow

BACKUP_FORMAT = 1
MANIFEST = "manifest.json"
SIGNATURE = "manifest.hmac"
#: Config keys naming folders of stored files that belong in every backup. Issued documents and
#: rendered registers live in the database itself, so the dump carries them.
FILE_FOLDER_KEYS = ("ATTACHMENT_FOLDER",)
#: pg_dump and pg_restore get this long before the backup is abandoned.
TOOL_TIMEOUT_SECONDS = 6 * 3600
ARCHIVE_GLOB = "xinfang-backup-*.tar.gz"


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


@dataclass
class DrillReport:
    """What a restore drill found: ``problems`` empty means the archive restores completely."""

    archive: Path
    manifest: dict
    restored_tables: dict[str, int]
    live_tables: dict[str, int]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        """The report in Chinese, one line each."""
        rows = sum(self.restored_tables.values())
        out = [
            f"演练备份：{self.archive.name}（{self.manifest.get('created_at', '?')}）",
            f"  恢复到临时数据库：数据表 {len(self.restored_tables)} 张、共 {rows} 行；"
            f"文件 {len(self.manifest.get('files', {}))} 个",
        ]
        restored, live = self.restored_tables, self.live_tables
        changed = [
            f"{name}：备份 {restored.get(name, 0)} 行，现在 {live.get(name, 0)} 行"
            for name in sorted(set(restored) | set(live))
            if restored.get(name, 0) != live.get(name, 0)
        ]
        if changed:
            out.append("  与当前数据库相比（备份之后的正常变化）：")
            out.extend(f"    {line}" for line in changed)
        else:
            out.append("  与当前数据库的行数完全相同。")
        if self.problems:
            out.append("  发现问题：")
            out.extend(f"    {problem}" for problem in self.problems)
            out.append("结论：这份备份不能完整恢复，请检查后重新备份。")
        else:
            out.append("结论：备份完整，可以恢复。")
        return out


# -- keys and small helpers ---------------------------------------------------------------


def backup_key() -> bytes:
    """The HMAC key of manifests: ``BACKUP_KEY`` if set, else derived from ``SECRET_KEY``."""
    config = current_app.config
    explicit = config.get("BACKUP_KEY")
    if explicit:
        return explicit if isinstance(explicit, bytes) else str(explicit).encode("utf-8")
    secret = config["SECRET_KEY"]
    secret = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    return hmac.new(secret, b"xinfang backup manifest key", hashlib.sha256).digest()


def _key_id(key: bytes) -> str:
    return hmac.new(key, b"key id", hashlib.sha256).hexdigest()[:16]


def sign_manifest(raw: bytes) -> str:
    """The contents of ``manifest.hmac`` for the manifest bytes ``raw``."""
    key = backup_key()
    digest = hmac.new(key, raw, hashlib.sha256).hexdigest()
    return json.dumps({"algorithm": "HMAC-SHA256", "key_id": _key_id(key), "hmac": digest})


def _check_signature(unpacked: Path) -> None:
    raw = (unpacked / MANIFEST).read_bytes()
    try:
        signature = json.loads((unpacked / SIGNATURE).read_text("utf-8"))
        given = str(signature["hmac"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise BackupError(
            "备份清单没有签名（manifest.hmac 缺失或无效），无法证明备份未被改动，未做任何恢复。"
        ) from error
    key = backup_key()
    expected = hmac.new(key, raw, hashlib.sha256).hexdigest()
    if hmac.compare_digest(given, expected):
        return
    if signature.get("key_id") != _key_id(key):
        raise BackupError(
            "备份清单的签名密钥与本机的不同：请使用备份时的 FLASK_BACKUP_KEY"
            "（未设置时为 FLASK_SECRET_KEY）再恢复。未做任何恢复。"
        )
    raise BackupError("备份清单的签名不符：清单或备份内容被改动过，未做任何恢复。")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _dialect() -> str:
    return db.engine.dialect.name


def _libpq_url(url: sa.engine.URL | None = None) -> tuple[str, dict[str, str]]:
    """A database URL for pg_dump/pg_restore, with the password moved into the environment."""
    url = url or db.engine.url
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
    except subprocess.TimeoutExpired as error:
        raise BackupError(f"{arguments[0]} 超时未完成。") from error


def _count_tables(connection) -> dict[str, int]:
    """Rows per application table that exists, read on ``connection`` (its snapshot)."""
    existing = set(sa.inspect(connection).get_table_names())
    return {
        table.name: connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        for table in db.metadata.sorted_tables
        if table.name in existing
    }


def _revision(connection) -> str | None:
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _file_folders() -> dict[str, Path]:
    config = current_app.config
    return {key: Path(config[key]) for key in FILE_FOLDER_KEYS if config.get(key)}


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    folder = Path(current_app.root_path) / "migrations"
    if not folder.is_dir():
        return set()
    return {script.revision for script in ScriptDirectory(str(folder)).walk_revisions()}


# -- taking a backup ----------------------------------------------------------------------


def _sqlite_snapshot(into: Path) -> tuple[Path, dict[str, int], str | None]:
    target = into / "database.sqlite3"
    # The online-backup API copies a consistent snapshot page by page while writers go on;
    # the copy is then counted, so the manifest describes exactly what the archive holds.
    raw = db.engine.raw_connection()
    try:
        copy = sqlite3.connect(target)
        try:
            raw.driver_connection.backup(copy)
        finally:
            copy.close()
    finally:
        raw.close()
    engine = sa.create_engine(f"sqlite:///{target}", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return target, _count_tables(connection), _revision(connection)
    finally:
        engine.dispose()


def _postgres_snapshot(into: Path) -> tuple[Path, dict[str, int], str | None]:
    target = into / "database.pgdump"
    url, environment = _libpq_url()
    with db.engine.connect() as connection:
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            # pg_dump imports this transaction's snapshot: the counts below and the dump see
            # the same committed rows, whatever staff commit meanwhile.
            snapshot = connection.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one()
            tables = _count_tables(connection)
            revision = _revision(connection)
            _run_tool(
                [
                    "pg_dump",
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    f"--snapshot={snapshot}",
                    f"--file={target}",
                    f"--dbname={url}",
                ],
                environment,
            )
    return target, tables, revision


def create_backup(output_dir: Path) -> BackupResult:
    """Write one archive with the database, the stored files and a signed manifest."""
    output_dir.mkdir(parents=True, exist_ok=True)
    db.session.commit()
    dialect = _dialect()
    if dialect not in ("sqlite", "postgresql"):
        raise BackupError(f"不支持备份此类数据库：{dialect}")
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    archive = output_dir / f"xinfang-backup-{stamp}.tar.gz"
    partial = archive.with_name(archive.name + ".partial")
    files: dict[str, str] = {}
    try:
        with tempfile.TemporaryDirectory() as scratch:
            snapshot = _sqlite_snapshot if dialect == "sqlite" else _postgres_snapshot
            dump, tables, revision = snapshot(Path(scratch))
            with tarfile.open(partial, "w:gz") as tar:
                tar.add(dump, arcname=f"database/{dump.name}")
                # Files after the snapshot: every attachment row in it was written to disk
                # before it committed, and files are never deleted, so each one is found.
                for key, folder in _file_folders().items():
                    if not folder.is_dir():
                        continue
                    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                        if path.name.endswith(".partial"):
                            continue
                        name = f"files/{key}/{path.relative_to(folder).as_posix()}"
                        files[name] = _sha256(path)
                        tar.add(path, arcname=name)
                manifest = {
                    "format": BACKUP_FORMAT,
                    "created_at": utcnow().isoformat(),
                    "database": dialect,
                    "dump": f"database/{dump.name}",
                    "dump_sha256": _sha256(dump),
                    "schema_revision": revision,
                    "tables": tables,
                    "folders": sorted(_file_folders()),
                    "files": files,
                }
                raw = json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8")
                manifest_path = Path(scratch) / MANIFEST
                manifest_path.write_bytes(raw)
                tar.add(manifest_path, arcname=MANIFEST)
                signature_path = Path(scratch) / SIGNATURE
                signature_path.write_text(sign_manifest(raw), "utf-8")
                tar.add(signature_path, arcname=SIGNATURE)
        os.chmod(partial, 0o600)
        os.replace(partial, archive)
    except OSError as error:
        with suppress(OSError):
            partial.unlink()
        raise BackupError(f"写入备份文件失败（{error.strerror or error}），备份未完成。") from error
    except BaseException:
        with suppress(OSError):
            partial.unlink()
        raise
    return BackupResult(archive=archive, tables=tables, file_count=len(files))


# -- proving an archive -------------------------------------------------------------------


def read_manifest(unpacked: Path) -> dict:
    try:
        manifest = json.loads((unpacked / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError) as error:
        raise BackupError("备份文件缺少有效的清单 manifest.json，不是本系统生成的备份。") from error
    if not isinstance(manifest, dict) or manifest.get("format") != BACKUP_FORMAT:
        version = manifest.get("format") if isinstance(manifest, dict) else None
        raise BackupError(f"备份格式版本 {version} 不受支持。")
    return manifest


def _unpack(archive: Path, into: Path) -> None:
    if not archive.is_file():
        raise BackupError(f"找不到备份文件：{archive}")
    try:
        with tarfile.open(archive, "r:gz") as tar:
            # The "data" filter refuses absolute paths, links out of the folder and devices.
            tar.extractall(into, filter="data")
    except (tarfile.TarError, OSError, EOFError, ValueError) as error:
        raise BackupError(
            f"无法读取备份文件（{error}）：文件不完整或已损坏，未做任何恢复。"
        ) from error


def _verify_contents(unpacked: Path, manifest: dict) -> None:
    dump = unpacked / manifest["dump"]
    if not dump.is_file() or _sha256(dump) != manifest["dump_sha256"]:
        raise BackupError("备份中的数据库文件缺失或已损坏（校验值不符），未做任何恢复。")
    for name, checksum in manifest["files"].items():
        path = unpacked / name
        if not path.is_file() or _sha256(path) != checksum:
            raise BackupError(f"备份中的文件 {name} 缺失或已损坏（校验值不符），未做任何恢复。")
    expected = {MANIFEST, SIGNATURE, manifest["dump"], *manifest["files"]}
    present = {p.relative_to(unpacked).as_posix() for p in unpacked.rglob("*") if p.is_file()}
    stray = sorted(present - expected)
    if stray:
        raise BackupError(f"备份中有清单之外的文件：{stray[0]}，未做任何恢复。")


def _verify_schema(manifest: dict) -> None:
    revision = manifest.get("schema_revision")
    if revision and revision not in _known_revisions():
        raise BackupError(
            f"备份的数据库结构版本 {revision} 不是本版本程序所知的版本"
            "（可能来自更新的程序），请用相同或更新的程序恢复。未做任何恢复。"
        )


@dataclass
class StagedBackup:
    """An archive unpacked, proven and restored into scratch space, not yet into live data."""

    archive: Path
    unpacked: Path
    manifest: dict
    dump: Path
    tables: dict[str, int]
    scratch_url: sa.engine.URL


def _compare_counts(manifest: dict, counted: dict[str, int]) -> None:
    expected = manifest["tables"]
    differences = {
        name: (expected.get(name), counted.get(name))
        for name in sorted(set(expected) | set(counted))
        if expected.get(name) != counted.get(name)
    }
    if differences:
        detail = "；".join(
            f"{name} 清单 {_rows(want)}、实际 {_rows(got)}"
            for name, (want, got) in list(differences.items())[:10]
        )
        raise BackupError(f"备份恢复到临时数据库后的行数与清单不符：{detail}。未做任何恢复。")


def _rows(count: int | None) -> str:
    return "无此表" if count is None else f"{count} 行"


@contextmanager
def _scratch_postgres() -> Iterator[sa.engine.URL]:
    live = db.engine.url
    name = f"{live.database}_restore_{secrets.token_hex(4)}"[-63:]
    admin = sa.create_engine(live, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.DBAPIError as error:
        admin.dispose()
        raise BackupError(
            "无法创建用于校验的临时数据库（数据库用户需要 CREATEDB 权限），未做任何恢复。"
            f"原因：{error.orig}"
        ) from error
    try:
        yield live.set(database=name)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def stage_backup(archive: Path) -> Iterator[StagedBackup]:
    """Unpack ``archive``, prove it, and restore its database into scratch space.

    Raises ``BackupError`` (live data untouched) if anything does not hold: the signature, the
    format, the database kind, the schema revision, a checksum, a stray member, or the rows."""
    with tempfile.TemporaryDirectory() as scratch:
        unpacked = Path(scratch) / "archive"
        unpacked.mkdir()
        _unpack(archive, unpacked)
        manifest = read_manifest(unpacked)
        if manifest.get("database") != _dialect():
            raise BackupError(
                f"这份备份来自 {manifest.get('database')} 数据库，当前使用的是 {_dialect()}，"
                "不能直接恢复。请在同类数据库上恢复。"
            )
        _check_signature(unpacked)
        _verify_schema(manifest)
        _verify_contents(unpacked, manifest)
        dump = unpacked / manifest["dump"]
        if _dialect() == "sqlite":
            # Read a copy, so the verified dump itself is never opened for writing.
            staged = Path(scratch) / "staged.sqlite3"
            shutil.copyfile(dump, staged)
            scratch_url = sa.engine.make_url(f"sqlite:///{staged}")
            yield _count_staged(archive, unpacked, manifest, dump, scratch_url)
        else:
            with _scratch_postgres() as scratch_url:
                url, environment = _libpq_url(scratch_url)
                try:
                    _run_tool(
                        [
                            "pg_restore",
                            "--no-owner",
                            "--no-privileges",
                            "--single-transaction",
                            "--exit-on-error",
                            f"--dbname={url}",
                            str(dump),
                        ],
                        environment,
                    )
                except BackupError as error:
                    raise BackupError(
                        f"备份无法恢复到临时数据库：{error}。未做任何恢复。"
                    ) from error
                yield _count_staged(archive, unpacked, manifest, dump, scratch_url)


def _count_staged(archive, unpacked, manifest, dump, scratch_url) -> StagedBackup:
    engine = sa.create_engine(scratch_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            if scratch_url.get_backend_name() == "sqlite":
                verdict = connection.execute(sa.text("PRAGMA integrity_check")).scalar()
                if verdict != "ok":
                    raise BackupError(f"备份中的数据库文件已损坏（{verdict}），未做任何恢复。")
            counted = _count_tables(connection)
            revision = _revision(connection)
    except sa.exc.DBAPIError as error:
        raise BackupError(f"无法读取备份中的数据库（{error.orig}），未做任何恢复。") from error
    finally:
        engine.dispose()
    if revision != manifest.get("schema_revision"):
        raise BackupError(
            f"备份中的数据库结构版本（{revision}）与清单（{manifest.get('schema_revision')}）不符，"
            "未做任何恢复。"
        )
    _compare_counts(manifest, counted)
    return StagedBackup(
        archive=archive,
        unpacked=unpacked,
        manifest=manifest,
        dump=dump,
        tables=counted,
        scratch_url=scratch_url,
    )


# -- restoring ----------------------------------------------------------------------------


def _live_counts() -> dict[str, int]:
    with db.engine.connect() as connection:
        return _count_tables(connection)


def _stage_folders(staged: StagedBackup, stamp: str) -> dict[str, Path]:
    """Copy the archive's folders next to their targets (same disk, so a rename swaps them)."""
    ready: dict[str, Path] = {}
    try:
        for key, target in _file_folders().items():
            if key not in staged.manifest["folders"]:
                continue
            source = staged.unpacked / "files" / key
            target.parent.mkdir(parents=True, exist_ok=True)
            incoming = target.with_name(f"{target.name}.restoring-{stamp}")
            ready[key] = incoming
            if source.is_dir():
                shutil.copytree(source, incoming)
            else:
                incoming.mkdir()
    except OSError as error:
        _discard(ready.values())
        raise BackupError(
            f"无法准备要恢复的文件（{error.strerror or error}），可能是磁盘已满或目录不可写。"
            "未做任何恢复。"
        ) from error
    return ready


def _discard(folders) -> None:
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def _replace_live_database(staged: StagedBackup) -> None:
    db.session.remove()
    # No pooled connection may hold a lock or a stale page while the contents are replaced.
    db.engine.dispose()
    try:
        if _dialect() == "sqlite":
            raw = db.engine.raw_connection()
            try:
                source = sqlite3.connect(staged.scratch_url.database)
                try:
                    # One step (all pages at once): the live file changes whole or not at all.
                    source.backup(raw.driver_connection)
                finally:
                    source.close()
            finally:
                raw.close()
        else:
            url, environment = _libpq_url()
            # One transaction: if anything fails, PostgreSQL rolls the whole restore back.
            _run_tool(
                [
                    "pg_restore",
                    "--clean",
                    "--if-exists",
                    "--no-owner",
                    "--no-privileges",
                    "--single-transaction",
                    "--exit-on-error",
                    f"--dbname={url}",
                    str(staged.dump),
                ],
                environment,
            )
    except (sqlite3.Error, BackupError) as error:
        raise BackupError(f"替换数据库失败，当前数据库保持原样：{error}") from error
    finally:
        db.engine.dispose()


def restore_backup(archive: Path) -> RestoreResult:
    """Bring back the database and files of ``archive``; proves everything before changing any."""
    with stage_backup(archive) as staged:
        # Down to the microsecond: two restores in one second must not meet the first one's
        # kept folder (a rename onto it fails with "Directory not empty").
        stamp = utcnow().strftime("%Y%m%d-%H%M%S-%f")
        incoming = _stage_folders(staged, stamp)
        try:
            _replace_live_database(staged)
        except BaseException:
            _discard(incoming.values())
            raise
        replaced = []
        folders = _file_folders()
        for key, folder in incoming.items():
            target = folders[key]
            if target.exists():
                kept = target.with_name(f"{target.name}.replaced-{stamp}")
                target.rename(kept)
                replaced.append(kept)
            folder.rename(target)
    tables = _live_counts()
    return RestoreResult(
        tables=tables, file_count=len(staged.manifest["files"]), replaced_folders=replaced
    )


# -- drills -------------------------------------------------------------------------------


def newest_archive(folder: Path) -> Path:
    archives = sorted(folder.glob(ARCHIVE_GLOB)) if folder.is_dir() else []
    if not archives:
        raise BackupError(f"在 {folder} 中找不到备份文件。")
    return archives[-1]


def restore_drill(archive: Path) -> DrillReport:
    """Restore ``archive`` into scratch space, compare it with its manifest and with today's
    database, and check every attachment row has its file; the live data is never touched.

    Raises ``BackupError`` when the archive cannot be restored at all."""
    from ..attachments import Attachment

    with stage_backup(archive) as staged:
        report = DrillReport(
            archive=archive,
            manifest=staged.manifest,
            restored_tables=staged.tables,
            live_tables=_live_counts(),
        )
        engine = sa.create_engine(staged.scratch_url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as connection:
                rows = connection.execute(
                    sa.select(Attachment.__table__.c.stored_name, Attachment.__table__.c.sha256)
                ).all()
        finally:
            engine.dispose()
        files = staged.manifest["files"]
        for stored_name, checksum in rows:
            name = f"files/ATTACHMENT_FOLDER/{stored_name}"
            if name not in files:
                report.problems.append(f"附件 {stored_name} 在备份中缺失")
            elif checksum and files[name] != checksum:
                report.problems.append(f"附件 {stored_name} 的内容与数据库记录的校验值不符")
    return report
