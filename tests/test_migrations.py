"""Upgrading an empty database to head gives exactly the schema the models describe."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from models import db
from tests.conftest import TEST_CONFIG, postgres_url, worker_suffix

MIGRATION_DB = "xinfang_migration_test" + worker_suffix()


def _fresh_postgres_url() -> str:
    base = sa.engine.make_url(postgres_url())
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f"DROP DATABASE IF EXISTS {MIGRATION_DB} WITH (FORCE)"))
        connection.execute(sa.text(f"CREATE DATABASE {MIGRATION_DB}"))
    admin.dispose()
    return base.set(database=MIGRATION_DB).render_as_string(hide_password=False)


def test_upgrade_to_head_matches_models(backend, tmp_path):
    from app import create_app

    if backend == "sqlite":
        url = "sqlite:///" + str(tmp_path / "migrated.db")
    else:
        url = _fresh_postgres_url()
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "render_as_batch": True}
            )
            differences = compare_metadata(context, db.metadata)
            tables = set(sa.inspect(connection).get_table_names())
        db.engine.dispose()
    assert differences == []
    assert {"cases", "letters", "visits", "calls", "callbacks", "case_events"} <= tables


@pytest.mark.parametrize("backend", ["sqlite"])
def test_downgrade_to_base_removes_everything(backend, tmp_path):
    from flask_migrate import downgrade

    from app import create_app

    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/d.db"})
    with app.app_context():
        upgrade()
        downgrade(revision="base")
        remaining = set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}
        db.engine.dispose()
    assert remaining == set()


def test_enum_checks_after_upgrade_accept_every_member(backend, tmp_path):
    """Branches that add enum members each replace the CHECK constraint; merged in sequence,
    the last one must still list every member (else PostgreSQL refuses the new values)."""
    from app import create_app

    if backend == "sqlite":
        url = "sqlite:///" + str(tmp_path / "enums.db")
    else:
        url = _fresh_postgres_url()
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": url})
    missing = []
    with app.app_context():
        upgrade()
        inspector = sa.inspect(db.engine)
        for table in db.metadata.sorted_tables:
            checks = " ".join(
                check["sqltext"] for check in inspector.get_check_constraints(table.name)
            )
            for column in table.columns:
                if isinstance(column.type, sa.Enum) and column.type.create_constraint:
                    missing += [
                        f"{table.name}.{column.name}={value}"
                        for value in column.type.enums
                        if f"'{value}'" not in checks
                    ]
        db.engine.dispose()
    assert missing == []
