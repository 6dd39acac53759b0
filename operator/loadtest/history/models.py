"""The history schema. Changing it means a new Alembic revision in migrations/versions/."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class RunRow(Base):
    """One run: what makes it comparable (the fingerprint), how it went, and its headline numbers."""

    __tablename__ = "runs"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    scenario: Mapped[str] = mapped_column(String(200), index=True)
    # sha256 over the locustfiles' content, users, shape, target host and SLA file content: runs
    # with the same fingerprint are comparable; `fingerprint_parts` says what went in (JSON)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    fingerprint_parts: Mapped[str] = mapped_column(Text)
    git_revision: Mapped[str] = mapped_column(String(64))
    backend: Mapped[str] = mapped_column(String(20))
    host: Mapped[str] = mapped_column(String(500))
    users: Mapped[int] = mapped_column(Integer)
    workers: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(String(20), index=True)  # PASS FAIL INCONCLUSIVE UNGATED NONE
    gate: Mapped[str] = mapped_column(String(20))  # sla, baseline, none
    judged_from: Mapped[float | None] = mapped_column(Float)  # start of the judged window (Unix s)
    judged_seconds: Mapped[float] = mapped_column(Float)
    requests: Mapped[int] = mapped_column(Integer)  # judged window
    failures: Mapped[int] = mapped_column(Integer)
    rps: Mapped[float | None] = mapped_column(Float)
    p95_ms: Mapped[float | None] = mapped_column(Float)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    # regression checks failed (verdict.json); None when no regression was judged (revision 0002)
    regressions: Mapped[int | None] = mapped_column(Integer, nullable=True)

    endpoints: Mapped[list[EndpointRow]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="EndpointRow.id"
    )


class EndpointRow(Base):
    """One endpoint (or the aggregate) of one run over its judged window: the exact histogram,
    and per 1-s window its request count and percentiles (what a regression test resamples)."""

    __tablename__ = "run_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.run_id", ondelete="CASCADE"), index=True)
    method: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(500))
    requests: Mapped[int] = mapped_column(Integer)
    failures: Mapped[int] = mapped_column(Integer)
    p50_ms: Mapped[float | None] = mapped_column(Float)
    p95_ms: Mapped[float | None] = mapped_column(Float)
    p99_ms: Mapped[float | None] = mapped_column(Float)
    histogram: Mapped[str] = mapped_column(Text)  # JSON [[value_ms, count], ...], bucket scheme of stats.json
    windows: Mapped[str] = mapped_column(Text)  # JSON [[t, requests, failures, p50, p95, p99], ...]

    run: Mapped[RunRow] = relationship(back_populates="endpoints")
