"""Custom-field filters on a large case table: query plans and timings.

Loads generated cases (100,000 by default) with custom field values into its own PostgreSQL
database ``xinfang_bench_fields`` (dropped and recreated; no other database is touched),
then prints ``EXPLAIN (ANALYZE, BUFFERS)`` and the median time of the case list's queries
filtered on a custom field, written by the same code the list uses
(``models.custom_fields.value_equals_clause``). Run from the project root::

    .venv/bin/python scripts/benchmark_custom_fields.py --cases 100000
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from app import create_app  # noqa: E402
from models import Case, db  # noqa: E402
from models.custom_fields import CustomField, value_equals_clause  # noqa: E402
from models.enums import CustomFieldType  # noqa: E402

DATABASE = "xinfang_bench_fields"
BASE_URL = "postgresql://postgres@127.0.0.1:5432/"
BATCH = 5000


def fresh_database() -> str:
    admin = sa.create_engine(BASE_URL + "postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
        connection.execute(sa.text(f"CREATE DATABASE {DATABASE}"))
    admin.dispose()
    return BASE_URL + DATABASE


def rows(count: int, rng: random.Random):
    now = datetime.now(UTC).replace(microsecond=0)
    for seq in range(1, count + 1):
        values = {"patient_type": "住院" if rng.random() < 0.03 else "门诊"}
        if rng.random() < 0.5:
            values["apologised"] = rng.random() < 0.2
        if rng.random() < 0.3:
            values["contractor"] = f"第{rng.randint(1, 400)}物业服务公司"
        when = now - timedelta(minutes=count - seq)
        yield {
            "number": f"XF-{seq:08d}",
            "register": "case",
            "register_year": 2026,
            "register_seq": seq,
            "channel": "letter",
            "priority": "normal",
            "status": "registered",
            "subject": f"事项{seq}",
            "content": "内容",
            "received_at": when,
            "created_at": when,
            "updated_at": when,
            "version": 1,
            "custom_values": values,
            **dict.fromkeys(
                (
                    "is_important",
                    "is_major",
                    "is_difficult",
                    "is_sensitive",
                    "is_beyond_level",
                    "is_abnormal",
                    "is_anonymous",
                    "is_group",
                    "is_supervised",
                    "is_investigation_order",
                    "is_deleted",
                ),
                False,
            ),
            "head_count": 1,
            "review_level": 0,
            "repeat_count": 0,
        }


def timed(statement, repeat: int = 15) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        db.session.execute(statement).all()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    args = parser.parse_args(argv)
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": fresh_database(), "TESTING": True, "SECRET_KEY": "bench"}
    )
    with app.app_context():
        db.create_all()
        batch = []
        for row in rows(args.cases, random.Random(2026)):
            batch.append(row)
            if len(batch) == BATCH:
                db.session.execute(sa.insert(Case.__table__), batch)
                batch = []
        if batch:
            db.session.execute(sa.insert(Case.__table__), batch)
        db.session.commit()
        # As autovacuum leaves a live table: the GIN pending list merged, statistics fresh.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("VACUUM ANALYZE cases"))
        fields = {
            "patient_type": CustomField(
                key="patient_type", label="患者类型", field_type=CustomFieldType.choice
            ),
            "apologised": CustomField(
                key="apologised", label="已先致歉", field_type=CustomFieldType.boolean
            ),
            "contractor": CustomField(
                key="contractor", label="责任单位", field_type=CustomFieldType.text
            ),
        }
        cases = [
            ("患者类型 = 住院 (3%)", value_equals_clause(fields["patient_type"], "住院")),
            ("已先致歉 = 是 (10%)", value_equals_clause(fields["apologised"], True)),
            (
                "责任单位 = 第7物业服务公司 (0.08%)",
                value_equals_clause(fields["contractor"], "第7物业服务公司"),
            ),
        ]
        print(f"PostgreSQL, {args.cases:,} cases\n")
        for title, condition in cases:
            listing = (
                sa.select(Case.id, Case.number)
                .where(Case.is_deleted.is_(False), condition)
                .order_by(Case.received_at.desc(), Case.id.desc())
                .limit(20)
            )
            count = (
                sa.select(sa.func.count())
                .select_from(Case)
                .where(Case.is_deleted.is_(False), condition)
            )
            for name, statement in (("list page", listing), ("count", count)):
                compiled = statement.compile(dialect=db.engine.dialect)
                parameters = {
                    key: json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else value
                    for key, value in compiled.params.items()
                }
                print(f"### {title}: {name} — median {timed(statement):.1f} ms")
                print(compiled, parameters)
                plan = db.session.connection().exec_driver_sql(
                    f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {compiled}", parameters
                )
                print("\n".join(row[0] for row in plan), "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
