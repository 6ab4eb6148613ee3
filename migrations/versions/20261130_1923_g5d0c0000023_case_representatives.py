"""a group's representatives as people linked to the case

Revision ID: g5d0c0000023
Revises: g4d0c0000022
Create Date: 2026-11-30 19:10:00.000000

The free-text ``cases.representatives`` (at most 200 characters of names) becomes rows of
``case_representatives``, one per person. Each name in the old text (split on 、，, ; and
spaces) becomes a person in the register with that name only: the text never held ID numbers
or phones, so nothing can be matched to a person already registered, and inventing a match by
name alone would merge strangers. Staff add the numbers on the case form later. The old text is
gone after the upgrade; a downgrade writes the names back, joined with 、.
"""

import re

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "g5d0c0000023"
down_revision = "g4d0c0000022"
branch_labels = None
depends_on = None

SEPARATORS = re.compile(r"[、，,；;\s]+")

cases = sa.table(
    "cases",
    sa.column("id", sa.Integer),
    sa.column("representatives", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("created_by_id", sa.Integer),
)
# A Table with its key, so that an insert reports the new person's id on both databases.
parties = sa.Table(
    "parties",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String),
    sa.Column("is_repeat_petitioner", sa.Boolean),
    sa.Column("is_important_customer", sa.Boolean),
    sa.Column("is_banned", sa.Boolean),
    sa.Column("note", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
    sa.Column("created_by_id", sa.Integer),
)
links = sa.table(
    "case_representatives",
    sa.column("case_id", sa.Integer),
    sa.column("party_id", sa.Integer),
    sa.column("position", sa.SmallInteger),
)


def upgrade():
    op.create_table(
        "case_representatives",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_representatives_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["party_id"], ["parties.id"], name=op.f("fk_case_representatives_party_id_parties"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("case_id", "party_id", name=op.f("pk_case_representatives")),
    )  # fmt: skip
    op.create_index(
        op.f("ix_case_representatives_party_id"), "case_representatives", ["party_id"]
    )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(cases.c.id, cases.c.representatives, cases.c.created_at, cases.c.created_by_id)
        .where(cases.c.representatives.is_not(None))
        .order_by(cases.c.id)
    ).all()
    for case_id, text, created_at, created_by_id in rows:
        names = []
        for name in SEPARATORS.split(text or ""):
            name = name.strip()[:64]
            if name and name not in names:
                names.append(name)
        for position, name in enumerate(names, start=1):
            party_id = conn.execute(
                parties.insert().values(
                    name=name,
                    is_repeat_petitioner=False,
                    is_important_customer=False,
                    is_banned=False,
                    note="代表人（由升级前的文字登记转入，未登记证件号码）",
                    created_at=created_at,
                    updated_at=created_at,
                    created_by_id=created_by_id,
                )
            ).inserted_primary_key[0]
            conn.execute(links.insert().values(case_id=case_id, party_id=party_id, position=position))
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_column("representatives")


def downgrade():
    with op.batch_alter_table("cases") as batch_op:
        batch_op.add_column(sa.Column("representatives", sa.String(length=200), nullable=True))
    conn = op.get_bind()
    names: dict[int, list[str]] = {}
    for case_id, name in conn.execute(
        sa.select(links.c.case_id, parties.c.name)
        .join(parties, parties.c.id == links.c.party_id)
        .order_by(links.c.case_id, links.c.position)
    ):
        names.setdefault(case_id, []).append(name)
    for case_id, people in names.items():
        conn.execute(
            cases.update().where(cases.c.id == case_id).values(representatives="、".join(people)[:200])
        )
    op.drop_index(op.f("ix_case_representatives_party_id"), table_name="case_representatives")
    op.drop_table("case_representatives")
