"""A real PostgreSQL server for tests: initdb in a temporary directory, a free loopback port,
password authentication, stopped (and its files removed) at the end.

The server refuses to run as root, so as root it runs as `nobody`. Binaries come from
scripts/install-postgres.sh (linked into the tool cache); a missing one is an installation bug.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from loadtest.core.processes import free_port

CACHE_BIN = Path(os.environ.get("LOADTEST_CACHE") or Path.home() / ".cache" / "loadtest") / "bin"


def _binary(name: str) -> str:
    path = CACHE_BIN / name
    if not path.exists():
        raise AssertionError(f"{path} is missing: run `make tools` (scripts/install-postgres.sh)")
    return os.path.realpath(path)  # the cache may sit in a home directory `nobody` cannot enter


class PostgresServer:
    def __init__(self) -> None:
        # directly under /tmp: as root the server runs as `nobody`, which must reach its directory
        self.root = Path(tempfile.mkdtemp(prefix="loadtest-postgres-"))
        self.root.chmod(0o755)
        self.data = self.root / "data"
        self.port = free_port()
        self.user = "loadtest"
        self.password = secrets.token_hex(12)
        self.database = "loadtest"

    def _as_owner(self, *argv: str) -> list[str]:
        return ["runuser", "-u", "nobody", "--", *argv] if os.geteuid() == 0 else list(argv)

    def start(self) -> PostgresServer:
        self.root.mkdir(parents=True, exist_ok=True)
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if os.geteuid() == 0:
            shutil.chown(self.root, "nobody", "nogroup")
            shutil.chown(pwfile, "nobody", "nogroup")
        subprocess.run(
            self._as_owner(_binary("initdb"), "-D", str(self.data), "-U", self.user, "--auth=scram-sha-256",
                           f"--pwfile={pwfile}", "--encoding=UTF8", "--locale=C"),
            check=True, capture_output=True,
        )  # fmt: skip
        pwfile.unlink()
        options = f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories='' -c fsync=off"
        subprocess.run(
            self._as_owner(_binary("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "log"),
                           "-w", "-t", "60", "start"),
            check=True, capture_output=True,
        )  # fmt: skip
        self._create_database()
        return self

    def _create_database(self) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{self.database}"')
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def new_database(self, name: str) -> str:
        """Create an empty database; its SQLAlchemy URL (no password: PGPASSWORD)."""
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def dsn(self, database: str | None = None) -> str:
        return (
            f"host=127.0.0.1 port={self.port} user={self.user} password={self.password} "
            f"dbname={database or self.database}"
        )

    @property
    def url(self) -> str:
        """The SQLAlchemy URL without the password (it comes from PGPASSWORD, as in production)."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def stop(self) -> None:
        subprocess.run(
            self._as_owner(_binary("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"),
            check=False, capture_output=True,
        )  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)
