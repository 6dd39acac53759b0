"""runs and run_endpoints

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("scenario", sa.String(200), nullable=False, index=True),
        sa.Column("fingerprint", sa.String(64), nullable=False, index=True),
        sa.Column("fingerprint_parts", sa.Text, nullable=False),
        sa.Column("git_revision", sa.String(64), nullable=False),
        sa.Column("backend", sa.String(20), nullable=False),
        sa.Column("host", sa.String(500), nullable=False),
        sa.Column("users", sa.Integer, nullable=False),
        sa.Column("workers", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), index=True),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("outcome", sa.String(20), nullable=False, index=True),
        sa.Column("gate", sa.String(20), nullable=False),
        sa.Column("judged_from", sa.Float),
        sa.Column("judged_seconds", sa.Float, nullable=False),
        sa.Column("requests", sa.Integer, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("rps", sa.Float),
        sa.Column("p95_ms", sa.Float),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pinned", sa.Boolean, nullable=False),
    )
    op.create_table(
        "run_endpoints",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "run_id", sa.String(64), sa.ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False, index=True
        ),
        sa.Column("method", sa.String(20), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("requests", sa.Integer, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("p50_ms", sa.Float),
        sa.Column("p95_ms", sa.Float),
        sa.Column("p99_ms", sa.Float),
        sa.Column("histogram", sa.Text, nullable=False),
        sa.Column("windows", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("run_endpoints")
    op.drop_table("runs")
