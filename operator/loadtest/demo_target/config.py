"""What every server process of one demo target run shares: paths and the JWT secret.

The supervisor writes `<data_dir>/config.json` (mode 0600: it holds the
secret) and exports its path in CONFIG_ENV before spawning the uvicorn
workers, which inherit the environment and read it in their app factory.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from loadtest.core.errors import RunError

CONFIG_ENV = "LOADTEST_DEMO_TARGET_CONFIG"  # internal: not a user flag, so not LOADTEST_DEMO_<FLAG>
CONFIG_FILENAME = "config.json"
SERVER_INFO_FILENAME = "server.json"  # written once the socket is bound: pid, host, port, url
LOG_FILENAME = "demo-target.log"


@dataclass(frozen=True)
class AppConfig:
    db_path: Path
    state_dir: Path
    jwt_secret: str

    @property
    def counters_dir(self) -> Path:
        return self.state_dir / "counters"

    @property
    def faults_path(self) -> Path:
        return self.state_dir / "faults.json"

    @classmethod
    def for_data_dir(cls, data_dir: Path, db_path: Path) -> AppConfig:
        """A fresh config for a run in `data_dir`, with a new random secret."""
        return cls(db_path=db_path, state_dir=data_dir / "state", jwt_secret=secrets.token_hex(32))

    def write(self, path: Path) -> None:
        payload = {
            "db_path": str(self.db_path),
            "state_dir": str(self.state_dir),
            "jwt_secret": self.jwt_secret,
        }
        tmp = path.with_suffix(".tmp")
        tmp.touch(mode=0o600)
        tmp.write_text(json.dumps(payload, indent=2))
        os.replace(tmp, path)

    @classmethod
    def read(cls, path: Path) -> AppConfig:
        try:
            raw = json.loads(path.read_text())
            return cls(Path(raw["db_path"]), Path(raw["state_dir"]), str(raw["jwt_secret"]))
        except (OSError, ValueError, KeyError) as exc:
            raise RunError(
                f"{CONFIG_ENV}: cannot read demo target config {path}: {exc}",
                hint="start the demo target with `loadtest demo-target` or DemoTarget, not uvicorn directly",
            ) from exc

    @classmethod
    def from_env(cls) -> AppConfig:
        value = os.environ.get(CONFIG_ENV)
        if not value:
            raise RunError(
                f"{CONFIG_ENV} is not set: a demo target worker needs its run's config file",
                hint="start the demo target with `loadtest demo-target` or DemoTarget, not uvicorn directly",
            )
        return cls.read(Path(value))
