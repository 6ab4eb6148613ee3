"""`flask backup` and `flask restore`: a round trip brings back every row and every stored file."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from models import Attachment, Case, db
from models.enums import AttachmentKind
from models.operations.attachments import store_attachment

from .conftest import row_counts

# Opens connections of its own (backups, threads, worker processes): never rolled back.
pytestmark = pytest.mark.own_connections

PDF_BYTES = b"%PDF-1.4\n% test attachment\n"


@pytest.fixture
def case_with_attachment(create_case, create_user):
    office = create_user("office")
    case = create_case(by=office, subject="备份前的标题")
    attachment = store_attachment(
        Attachment(case=case, kind=AttachmentKind.scanned_letter),
        filename="原件.pdf",
        data=PDF_BYTES,
        by=office,
    )
    db.session.commit()
    return case.id, attachment.stored_name


def run(app, *arguments):
    result = app.test_cli_runner().invoke(args=list(arguments))
    return result


def test_backup_and_restore_round_trip(app, tmp_path, case_with_attachment):
    case_id, stored_name = case_with_attachment
    before = row_counts()
    folder = Path(app.config["ATTACHMENT_FOLDER"])

    result = run(app, "backup", "--output-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    archive = next(tmp_path.glob("xinfang-backup-*.tar.gz"))
    assert "已备份" in result.output

    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        assert f"files/ATTACHMENT_FOLDER/{stored_name}" in tar.getnames()
    assert manifest["database"] == db.engine.dialect.name
    assert manifest["tables"]["cases"] == before["cases"] == 1

    # Damage after the backup: a changed title, a new case, a lost file.
    db.session.execute(sa.update(Case).values(subject="被改掉的标题"))
    db.session.commit()
    (folder / stored_name).unlink()

    result = run(app, "restore", str(archive), "--yes")
    assert result.exit_code == 0, result.output
    assert "已恢复" in result.output

    assert db.session.get(Case, case_id).subject == "备份前的标题"
    assert row_counts() == before
    restored_folder = Path(app.config["ATTACHMENT_FOLDER"])
    assert (restored_folder / stored_name).read_bytes() == PDF_BYTES
    # What was there before the restore is kept, not deleted.
    assert any(p.name.startswith(folder.name + ".replaced-") for p in folder.parent.iterdir())


def test_restore_refuses_a_damaged_archive_and_changes_nothing(app, tmp_path, case_with_attachment):
    result = run(app, "backup", "--output-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    archive = next(tmp_path.glob("xinfang-backup-*.tar.gz"))

    unpacked = tmp_path / "unpacked"
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="data")
    dump = next((unpacked / "database").iterdir())
    dump.write_bytes(dump.read_bytes()[:-10] + b"0123456789")
    damaged = tmp_path / "damaged.tar.gz"
    with tarfile.open(damaged, "w:gz") as tar:
        for path in sorted(unpacked.rglob("*")):
            tar.add(path, arcname=path.relative_to(unpacked).as_posix(), recursive=False)

    db.session.execute(sa.update(Case).values(subject="恢复失败后应保留"))
    db.session.commit()
    before = row_counts()

    result = run(app, "restore", str(damaged), "--yes")
    assert result.exit_code != 0
    assert "已损坏" in result.output
    assert db.session.execute(sa.select(Case.subject)).scalar_one() == "恢复失败后应保留"
    assert row_counts() == before


def test_restore_refuses_files_that_are_not_backups(app, tmp_path):
    not_a_backup = tmp_path / "notes.tar.gz"
    not_a_backup.write_bytes(b"not a tar file at all")
    result = run(app, "restore", str(not_a_backup), "--yes")
    assert result.exit_code != 0
    assert "无法读取备份文件" in result.output

    result = run(app, "restore", str(tmp_path / "missing.tar.gz"), "--yes")
    assert result.exit_code != 0
    assert "找不到备份文件" in result.output


def test_restore_refuses_a_backup_of_the_other_database_kind(app, tmp_path):
    other = "postgresql" if db.engine.dialect.name == "sqlite" else "sqlite"
    manifest = {
        "format": 1,
        "database": other,
        "dump": "database/x",
        "dump_sha256": "",
        "schema_revision": None,
        "tables": {},
        "folders": [],
        "files": {},
    }
    source = tmp_path / "manifest.json"
    source.write_text(json.dumps(manifest), "utf-8")
    archive = tmp_path / "other.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname="manifest.json")
    result = run(app, "restore", str(archive), "--yes")
    assert result.exit_code != 0
    assert "不能直接恢复" in result.output
