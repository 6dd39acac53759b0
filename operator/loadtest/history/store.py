"""Open, migrate and query a history store.

Where: ``LOADTEST_HISTORY_URL`` (a SQLAlchemy URL, e.g.
``postgresql+psycopg://loadtest@db.internal/loadtest``; the password from the URL, ``PGPASSWORD``
or a Secret mounted as that variable, never from a spec file or values), else an SQLite file
``<artifacts_dir>/history.sqlite3`` beside the runs. ``LOADTEST_HISTORY_URL=off`` records nothing.

Every open runs Alembic's upgrade to head under a lock (an SQLite file lock, a PostgreSQL
advisory lock), so two runs finishing at once migrate once and both record.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, defer

from loadtest.history.models import EndpointRow, RunRow
from loadtest.history.record import HistoryError, Recorded
from loadtest.history.regression import Baseline, RunData, differences

URL_ENV = "LOADTEST_HISTORY_URL"
DEFAULT_FILE = "history.sqlite3"
MIGRATIONS = Path(__file__).parent / "migrations"
EXCLUDED_OUTCOMES = ("INCONCLUSIVE", "NONE")  # never a baseline: not judged, or broken
_PG_LOCK = 0x6C6F6164  # "load": the advisory lock key migrations take on PostgreSQL


def url_for(artifacts_dir: Path, environ: Mapping[str, str] | None = None) -> str | None:
    """The store's URL, or None when history is switched off."""
    env = os.environ if environ is None else environ
    configured = env.get(URL_ENV, "").strip()
    if configured.lower() in ("off", "none", "false", "0"):
        return None
    return configured or f"sqlite:///{(artifacts_dir / DEFAULT_FILE).resolve()}"


def shown(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


@dataclass
class Store:
    engine: Engine
    url: str

    def record(self, recorded: Recorded) -> bool:
        """Insert one run; False when it was already recorded (importing twice changes nothing)."""
        with Session(self.engine, expire_on_commit=False) as session:
            if session.get(RunRow, recorded.run.run_id) is not None:
                return False
            session.add(recorded.run)
            session.add_all(recorded.endpoints)
            try:
                session.commit()
            except IntegrityError:  # another process recorded the same run a moment ago
                session.rollback()
                return False
        return True

    def runs(
        self,
        *,
        scenario: str | None = None,
        since: datetime | None = None,
        outcomes: Sequence[str] = (),
        limit: int = 20,
    ) -> list[RunRow]:
        """Newest first."""
        query = select(RunRow)
        if scenario:
            query = query.where(RunRow.scenario == scenario)
        if since is not None:
            query = query.where(RunRow.started_at >= since)
        if outcomes:
            query = query.where(RunRow.outcome.in_(list(outcomes)))
        query = query.order_by(RunRow.started_at.desc(), RunRow.run_id.desc()).limit(limit)
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.scalars(query))

    def get(self, run_id: str) -> RunRow | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(RunRow, run_id)

    def require(self, run_id: str) -> RunRow:
        """The run, or HistoryError naming it and how to find the right id."""
        row = self.get(run_id)
        if row is None:
            raise HistoryError(
                f"run {run_id!r} is not in the history store {shown(self.url)}",
                hint="`loadtest history` lists the recorded runs; "
                "`loadtest history import results/<run_id>` records one",
            )
        return row

    def load(self, run_id: str) -> RunData:
        """A run with its endpoints' histograms (their per-window rows are not loaded: judging and
        comparing use whole-run histograms, and the windows are the bulk of a long run)."""
        return self._with_endpoints(self.require(run_id))

    def _with_endpoints(self, run: RunRow) -> RunData:
        query = select(EndpointRow).where(EndpointRow.run_id == run.run_id).options(defer(EndpointRow.windows))
        with Session(self.engine, expire_on_commit=False) as session:
            return RunData(run, list(session.scalars(query)))

    def pin(self, run_id: str, pinned: bool = True) -> RunRow:
        """Pin a run as the baseline of its fingerprint (unpinning any other), or unpin it."""
        run = self.require(run_id)
        with Session(self.engine) as session, session.begin():
            if pinned:
                session.execute(update(RunRow).where(RunRow.fingerprint == run.fingerprint).values(pinned=False))
            session.execute(update(RunRow).where(RunRow.run_id == run_id).values(pinned=pinned))
        return self.require(run_id)

    def baseline(self, run: RunRow, runs: int, min_runs: int) -> Baseline:
        """The last `runs` comparable runs before `run` (same fingerprint, not INCONCLUSIVE), and the
        pinned run of its fingerprint; `usable` once there are `min_runs` of them (a pinned run
        still needs two for the spread). `why` says which, or why there is none."""
        comparable = (
            select(RunRow)
            .where(RunRow.fingerprint == run.fingerprint, RunRow.run_id != run.run_id)
            .where(RunRow.outcome.not_in(EXCLUDED_OUTCOMES))
        )
        if run.started_at is not None:
            comparable = comparable.where(RunRow.started_at < run.started_at)
        with Session(self.engine, expire_on_commit=False) as session:
            pinned_row = session.scalars(
                select(RunRow).where(
                    RunRow.fingerprint == run.fingerprint, RunRow.pinned.is_(True), RunRow.run_id != run.run_id
                )
            ).first()
            rows = list(
                session.scalars(
                    comparable.where(RunRow.pinned.is_(False))
                    .order_by(RunRow.started_at.desc(), RunRow.run_id.desc())
                    .limit(runs)
                )
            )
            others = list(
                session.scalars(
                    select(RunRow)
                    .where(RunRow.scenario == run.scenario, RunRow.fingerprint != run.fingerprint)
                    .order_by(RunRow.started_at.desc())
                    .limit(3)
                )
            )
            skipped = session.scalar(
                select(func.count())
                .select_from(RunRow)
                .where(
                    RunRow.fingerprint == run.fingerprint,
                    RunRow.run_id != run.run_id,
                    RunRow.outcome.in_(EXCLUDED_OUTCOMES),
                )
            )
        data = [self._with_endpoints(r) for r in rows]
        pinned = self._with_endpoints(pinned_row) if pinned_row is not None else None
        fp = run.fingerprint[:12]
        ids = ", ".join(r.run_id for r in rows)
        if pinned is not None:
            usable = len(rows) >= 2
            why = (
                f"pinned run {pinned.run_id}, noise from the last {len(rows)} comparable runs ({ids})"
                if usable
                else f"run {pinned.run_id} is pinned, but {len(rows)} other comparable run(s) exist and 2 are "
                "needed to measure run-to-run noise"
            )
            return Baseline(data, pinned, why, usable)
        if len(rows) >= min_runs:
            return Baseline(data, None, f"the last {len(rows)} comparable runs (fingerprint {fp}): {ids}", True)
        why = f"{len(rows)} comparable run(s) before this one (fingerprint {fp}), {min_runs} needed"
        if skipped:
            why += f"; {skipped} INCONCLUSIVE or broken run(s) of this fingerprint do not count"
        if others:
            diffs = "; ".join(
                f"{o.run_id}: {', '.join(differences(run.fingerprint_parts, o.fingerprint_parts)) or 'other code'}"
                for o in others
            )
            why += f"; runs of scenario {run.scenario!r} with another fingerprint are never compared ({diffs})"
        return Baseline(data, None, why, False)

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str) -> Store:
    """Connect and bring the schema to head. HistoryError names the URL (password hidden) and the fix."""
    try:
        engine = _engine(url)
        with _migration_lock(engine, url), engine.begin() as conn:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    except ArgumentError as exc:
        raise HistoryError(
            f"{URL_ENV} = {shown(url)!r} is not a database URL: {exc}",
            hint="use e.g. postgresql+psycopg://user@host:5432/loadtest or sqlite:////path/history.sqlite3",
        ) from exc
    except (SQLAlchemyError, OSError) as exc:
        raise HistoryError(
            f"the history store {shown(url)} cannot be used: {_first_line(exc)}",
            hint=f"check {URL_ENV} (host, port, database, credentials through PGPASSWORD) and that the server runs",
        ) from exc
    return Store(engine, url)


def _first_line(exc: BaseException) -> str:
    text_ = str(getattr(exc, "orig", None) or exc).strip()
    return text_.splitlines()[0] if text_ else type(exc).__name__


def _engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the run that records
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})


@contextlib.contextmanager
def _migration_lock(engine: Engine, url: str) -> Iterator[None]:
    """One migration at a time per store, across processes."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        lock_path = Path(f"{parsed.database or 'memory'}.lock")
        with lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _PG_LOCK})
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_LOCK})
