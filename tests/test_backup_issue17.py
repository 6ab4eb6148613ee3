"""Issue 17: backups taken while staff work restore; damaged or edited archives are refused
before anything live changes; `flask restore-drill` restores into scratch space and reports."""

from __future__ import annotations

import hashlib
import json
import tarfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from models import Attachment, Case, User, db
from models.base import utcnow
from models.enums import AttachmentKind
from models.maintenance.backup import sign_manifest
from models.operations.attachments import store_attachment

from .conftest import row_counts

# Opens connections of its own (logins' throttle, backups, probes): never rolled back.
pytestmark = pytest.mark.own_connections

PDF = b"%PDF-1.4\n% issue 17 attachment\n"


def run(app, *arguments):
    return app.test_cli_runner().invoke(args=list(arguments))


def attach(case, by, data=PDF):
    attachment = store_attachment(
        Attachment(case=case, kind=AttachmentKind.scanned_letter),
        filename="原件.pdf",
        data=data,
        by=by,
    )
    db.session.commit()
    return attachment


def take_backup(app, folder: Path) -> Path:
    result = run(app, "backup", "--output-dir", str(folder))
    assert result.exit_code == 0, result.output
    return max(folder.glob("xinfang-backup-*.tar.gz"))


def unpack(archive: Path, into: Path) -> Path:
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into


def repack(unpacked: Path, archive: Path) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(unpacked.rglob("*")):
            tar.add(path, arcname=path.relative_to(unpacked).as_posix(), recursive=False)
    return archive


def load_manifest(unpacked: Path) -> dict:
    return json.loads((unpacked / "manifest.json").read_text("utf-8"))


def save_manifest(unpacked: Path, manifest: dict, *, sign: bool) -> None:
    raw = json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8")
    (unpacked / "manifest.json").write_bytes(raw)
    if sign:
        (unpacked / "manifest.hmac").write_text(sign_manifest(raw), "utf-8")


def folder_state(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


@pytest.fixture
def office(create_user):
    return create_user("office")


@pytest.fixture
def backed_up(app, tmp_path, create_case, office):
    """A case with an attachment, one backup of it, and the live state afterwards."""
    case = create_case(by=office, subject="备份时的标题")
    attachment = attach(case, office)
    archive = take_backup(app, tmp_path / "backups")
    # Changed after the backup: a refused restore must leave exactly this.
    db.session.execute(sa.update(Case).values(subject="恢复失败后应保留"))
    db.session.commit()
    return archive, attachment.stored_name


def snapshot_live(app) -> dict:
    folder = Path(app.config["ATTACHMENT_FOLDER"])
    siblings = sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(folder.name))
    return {
        "rows": row_counts(),
        "subjects": list(db.session.scalars(sa.select(Case.subject).order_by(Case.id))),
        "files": folder_state(folder),
        "siblings": siblings,
    }


def assert_refused(app, archive: Path, expected: str, before: dict) -> None:
    result = run(app, "restore", str(archive), "--yes")
    assert result.exit_code != 0, result.output
    assert expected in result.output
    assert "未做任何恢复" in result.output
    db.session.remove()
    assert snapshot_live(app) == before


def scratch_databases() -> list[str]:
    if db.engine.dialect.name != "postgresql":
        return []
    return list(
        db.session.scalars(
            sa.text("SELECT datname FROM pg_database WHERE datname LIKE '%\\_restore\\_%'")
        )
    )


# -- a backup taken while staff work -----------------------------------------------------


def test_online_backup_during_registrations_restores_identically(
    app, tmp_path, create_case, office
):
    from models.enums import CaseChannel
    from models.operations.cases import register_case

    create_case(by=office)  # the first case, so numbering and statistics rows exist
    office_id = office.id
    stop = threading.Event()
    registered: list[int] = []
    errors: list[BaseException] = []

    def register_continuously():
        with app.app_context():
            try:
                while not stop.is_set() or len(registered) < 8:
                    by = db.session.get(User, office_id)
                    case = register_case(
                        Case(
                            channel=CaseChannel.letter,
                            subject=f"并发登记 {len(registered)}",
                            content="备份进行中登记的事项。",
                            received_at=utcnow() - timedelta(hours=1),
                        ),
                        by=by,
                    )
                    db.session.flush()
                    store_attachment(
                        Attachment(case=case, kind=AttachmentKind.scanned_letter),
                        filename="并发.pdf",
                        data=PDF + str(len(registered)).encode(),
                        by=by,
                    )
                    db.session.commit()
                    registered.append(case.id)
            except BaseException as error:  # reported by the main thread
                errors.append(error)
                db.session.rollback()
            finally:
                db.session.remove()

    worker = threading.Thread(target=register_continuously)
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while len(registered) < 3 and not errors and time.monotonic() < deadline:
            time.sleep(0.01)
        archive = take_backup(app, tmp_path / "backups")
        during = len(registered)
    finally:
        stop.set()
        worker.join(60)
    assert not errors, errors
    assert len(registered) >= 8

    manifest = load_manifest(unpack(archive, tmp_path / "check"))
    # The backup caught some of the registrations, not all of them.
    assert 1 + 3 <= manifest["tables"]["cases"] <= 1 + during + 1
    assert manifest["tables"]["cases"] < 1 + len(registered)
    assert manifest["tables"]["attachments"] == manifest["tables"]["cases"] - 1

    db.session.remove()
    result = run(app, "restore", str(archive), "--yes")
    assert result.exit_code == 0, result.output

    counts = row_counts()
    assert {name: counts[name] for name in manifest["tables"]} == manifest["tables"]
    folder = Path(app.config["ATTACHMENT_FOLDER"])
    for stored_name, checksum in db.session.execute(
        sa.select(Attachment.stored_name, Attachment.sha256)
    ):
        assert hashlib.sha256((folder / stored_name).read_bytes()).hexdigest() == checksum
    restored = {
        f"files/ATTACHMENT_FOLDER/{name}": hashlib.sha256(data).hexdigest()
        for name, data in folder_state(folder).items()
    }
    assert restored == manifest["files"]
    assert scratch_databases() == []


# -- refused archives leave the live data alone ------------------------------------------


def test_tampered_dump_with_updated_checksum_is_refused(app, tmp_path, backed_up):
    archive, _stored = backed_up
    unpacked = unpack(archive, tmp_path / "u")
    manifest = load_manifest(unpacked)
    dump = unpacked / manifest["dump"]
    dump.write_bytes(dump.read_bytes()[:-10] + b"0123456789")
    manifest["dump_sha256"] = hashlib.sha256(dump.read_bytes()).hexdigest()
    save_manifest(unpacked, manifest, sign=False)
    before = snapshot_live(app)
    assert_refused(app, repack(unpacked, tmp_path / "t.tar.gz"), "签名不符", before)


def test_tampered_manifest_is_refused(app, tmp_path, backed_up):
    archive, _stored = backed_up
    unpacked = unpack(archive, tmp_path / "u")
    manifest = load_manifest(unpacked)
    manifest["tables"]["audit_log"] = 0
    save_manifest(unpacked, manifest, sign=False)
    before = snapshot_live(app)
    assert_refused(app, repack(unpacked, tmp_path / "t.tar.gz"), "签名不符", before)


def test_missing_signature_is_refused(app, tmp_path, backed_up):
    archive, _stored = backed_up
    unpacked = unpack(archive, tmp_path / "u")
    (unpacked / "manifest.hmac").unlink()
    before = snapshot_live(app)
    assert_refused(app, repack(unpacked, tmp_path / "t.tar.gz"), "没有签名", before)


def test_truncated_archive_is_refused(app, tmp_path, backed_up):
    archive, _stored = backed_up
    truncated = tmp_path / "truncated.tar.gz"
    data = archive.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    before = snapshot_live(app)
    assert_refused(app, truncated, "无法读取备份文件", before)


def test_signed_manifest_with_wrong_counts_is_refused(app, tmp_path, backed_up):
    archive, _stored = backed_up
    unpacked = unpack(archive, tmp_path / "u")
    manifest = load_manifest(unpacked)
    manifest["tables"]["cases"] += 1
    save_manifest(unpacked, manifest, sign=True)
    before = snapshot_live(app)
    assert_refused(app, repack(unpacked, tmp_path / "t.tar.gz"), "行数与清单不符", before)
    assert scratch_databases() == []


def test_stray_file_is_refused(app, tmp_path, backed_up):
    archive, _stored = backed_up
    unpacked = unpack(archive, tmp_path / "u")
    (unpacked / "files" / "ATTACHMENT_FOLDER" / "extra.pdf").write_bytes(PDF)
    before = snapshot_live(app)
    assert_refused(app, repack(unpacked, tmp_path / "t.tar.gz"), "清单之外的文件", before)


def test_unknown_schema_revision_is_refused(app, tmp_path, backed_up):
    archive, _stored = backed_up
    unpacked = unpack(archive, tmp_path / "u")
    manifest = load_manifest(unpacked)
    manifest["schema_revision"] = "z9future0099"
    save_manifest(unpacked, manifest, sign=True)
    before = snapshot_live(app)
    assert_refused(app, repack(unpacked, tmp_path / "t.tar.gz"), "结构版本", before)


def test_wrong_key_is_refused_and_the_right_key_restores(app, tmp_path, backed_up, monkeypatch):
    archive, stored = backed_up
    before = snapshot_live(app)
    monkeypatch.setitem(app.config, "BACKUP_KEY", "another-key")
    assert_refused(app, archive, "签名密钥", before)

    monkeypatch.delitem(app.config, "BACKUP_KEY")
    result = run(app, "restore", str(archive), "--yes")
    assert result.exit_code == 0, result.output
    assert db.session.execute(sa.select(Case.subject)).scalar_one() == "备份时的标题"
    assert (Path(app.config["ATTACHMENT_FOLDER"]) / stored).read_bytes() == PDF


def test_backup_key_setting_signs_and_verifies(app, tmp_path, create_case, office, monkeypatch):
    create_case(by=office)
    monkeypatch.setitem(app.config, "BACKUP_KEY", "kept-in-the-safe")
    archive = take_backup(app, tmp_path / "b")
    monkeypatch.setitem(app.config, "SECRET_KEY", "a-rotated-secret")
    result = run(app, "restore", str(archive), "--yes")
    assert result.exit_code == 0, result.output
    assert row_counts()["cases"] == 1


# -- restore drills ----------------------------------------------------------------------


def test_restore_drill_restores_the_newest_into_scratch_and_reports(
    app, tmp_path, backed_up, create_case, office
):
    archive, _stored = backed_up
    create_case(by=office, subject="备份之后登记")
    before = snapshot_live(app)

    result = run(app, "restore-drill", "--backup-dir", str(archive.parent))
    assert result.exit_code == 0, result.output
    assert archive.name in result.output
    assert "备份完整，可以恢复" in result.output
    assert "cases：备份 1 行，现在 2 行" in result.output
    db.session.remove()
    assert snapshot_live(app) == before
    assert scratch_databases() == []


def test_restore_drill_reports_a_missing_attachment(app, tmp_path, backed_up):
    archive, stored = backed_up
    unpacked = unpack(archive, tmp_path / "u")
    manifest = load_manifest(unpacked)
    name = f"files/ATTACHMENT_FOLDER/{stored}"
    del manifest["files"][name]
    (unpacked / name).unlink()
    save_manifest(unpacked, manifest, sign=True)
    damaged = repack(unpacked, tmp_path / "drill.tar.gz")

    result = run(app, "restore-drill", str(damaged))
    assert result.exit_code == 1, result.output
    assert f"附件 {stored} 在备份中缺失" in result.output
    assert "不能完整恢复" in result.output


def test_restore_drill_refuses_an_edited_archive(app, tmp_path, backed_up):
    archive, _stored = backed_up
    unpacked = unpack(archive, tmp_path / "u")
    manifest = load_manifest(unpacked)
    manifest["tables"]["cases"] = 7
    save_manifest(unpacked, manifest, sign=False)
    result = run(app, "restore-drill", str(repack(unpacked, tmp_path / "e.tar.gz")))
    assert result.exit_code != 0
    assert "恢复演练失败" in result.output
    assert "签名不符" in result.output


def test_restore_drill_without_backups_says_so(app, tmp_path):
    result = run(app, "restore-drill", "--backup-dir", str(tmp_path / "none"))
    assert result.exit_code != 0
    assert "找不到备份文件" in result.output
