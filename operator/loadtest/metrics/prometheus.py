"""A real Prometheus server for a local run: free loopback port, generated config, data in the artifacts.

The local backend (`loadtest run --prometheus`) starts one around the run so
the same rules and dashboards used in a cluster work on a laptop, and so the
e2e tests can check what a real Prometheus makes of our /metrics. It is the
Debian package's binary (scripts/install-prometheus.sh), never its system
service: each run gets its own process, port and TSDB under the run's
artifacts directory, and `stop()` leaves no process behind.

    with PrometheusServer(["127.0.0.1:9646"], run_dir / "prometheus") as prom:
        print(prom.url)
        ... run ...
        prom.wait_for_scrape(after=time.time())   # the final counters are in
        prom.query("sum(loadtest_requests_total)")
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import yaml

from loadtest.core import interrupts
from loadtest.core.errors import RunError, SpecError

DEFAULT_SCRAPE_INTERVAL_S = 2.0  # dashboards use rate windows of a few scrapes; 2 s keeps short runs visible
READY_TIMEOUT_S = 60.0  # TSDB and rule loading take ~1 s; a loaded CI machine needs far more
STOP_TIMEOUT_S = 10.0  # Prometheus flushes the head block on SIGTERM
HTTP_TIMEOUT_S = 10.0
PORT_ATTEMPTS = 3  # the free port we picked can be taken before Prometheus binds it
POLL_S = 0.1
JOB = "loadtest"
RULES_FILE = Path(__file__).resolve().parents[3] / "charts" / "loadtest" / "rules" / "loadtest.rules.yaml"


@dataclass(frozen=True)
class Series:
    """One element of an instant-query result."""

    metric: dict[str, str]
    value: float
    timestamp: float


def find_binary() -> str:
    """prometheus on PATH, else in the tool cache; the error says how to install it."""
    found = shutil.which("prometheus")
    cache = Path(os.environ.get("LOADTEST_CACHE", Path.home() / ".cache" / "loadtest")) / "bin" / "prometheus"
    if found:
        return found
    if cache.is_file():
        return str(cache)
    raise RunError(
        "prometheus binary not found on PATH or in the tool cache",
        hint="run scripts/install-prometheus.sh (make tools), or drop --prometheus",
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _duration(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"


class PrometheusServer:
    """Context manager around one Prometheus process scraping `targets` ("host:port" each)."""

    def __init__(
        self,
        targets: Sequence[str],
        directory: Path,
        *,
        scrape_interval_s: float = DEFAULT_SCRAPE_INTERVAL_S,
        rules_files: Sequence[Path] | None = None,
        binary: str | None = None,
        ready_timeout_s: float = READY_TIMEOUT_S,
        data_dir: Path | None = None,
    ) -> None:
        """`directory` receives prometheus.yml, the rules and the log; the TSDB goes to `data_dir`
        (default `directory/data`). To read a finished run's data back, pass no targets and that
        run's data directory with a fresh `directory`, and query at times within the run."""
        for target in targets:
            if "://" in target or "/" in target or ":" not in target:
                raise SpecError(
                    f"Prometheus target is {target!r}", hint="give host:port, e.g. 127.0.0.1:9646 (no scheme)"
                )
        if scrape_interval_s <= 0:
            raise SpecError(f"scrape_interval_s is {scrape_interval_s}", hint="use a positive number of seconds")
        self.targets = list(targets)
        self.directory = directory
        self.scrape_interval_s = scrape_interval_s
        self.rules_files = [RULES_FILE] if rules_files is None else list(rules_files)
        for rules in self.rules_files:
            if not rules.is_file():
                raise SpecError(f"rules file {rules} does not exist", hint="pass existing files, or [] for none")
        self.binary = binary
        self.ready_timeout_s = ready_timeout_s
        self.data_dir = data_dir if data_dir is not None else directory / "data"
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.directory / "prometheus.log"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _write_config(self) -> Path:
        rules_dir = self.directory / "rules"
        rules_dir.mkdir(parents=True, exist_ok=True)
        copied = []
        for rules in self.rules_files:  # copied, so the artifacts show the rules this run evaluated
            dest = rules_dir / rules.name
            shutil.copyfile(rules, dest)
            copied.append(str(dest))
        interval = _duration(self.scrape_interval_s)
        config = {
            "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
            "rule_files": copied,
            "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": self.targets}]}],
        }
        path = self.directory / "prometheus.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return path

    def start(self) -> PrometheusServer:
        """Start and wait until /-/ready answers; raise RunError with the log's tail otherwise."""
        binary = self.binary or find_binary()
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self.port = free_port()
            self._log = self.log_path.open("ab")
            with interrupts.held():  # a Ctrl-C lands once the process is ours to stop
                self._process = subprocess.Popen(
                    [
                        binary,
                        f"--config.file={config}",
                        f"--storage.tsdb.path={self.data_dir}",
                        f"--web.listen-address=127.0.0.1:{self.port}",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=self._log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # a Ctrl-C in the terminal reaches the controller, which stops us
                )
            try:
                self._wait_ready()
                return self
            except RunError:
                tail = self._log_tail()
                self.stop()
                if "address already in use" in tail and attempt < PORT_ATTEMPTS:
                    continue
                raise
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RunError(
                    f"Prometheus exited with code {self._process.returncode} while starting:\n{self._log_tail()}",
                    hint=f"see {self.log_path}",
                )
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1.0) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RunError(
                    f"Prometheus on {self.url} not ready after {self.ready_timeout_s:.0f} s:\n{self._log_tail()}",
                    hint=f"see {self.log_path}",
                )
            time.sleep(POLL_S)

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _get(self, path: str, params: dict[str, str]) -> Any:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:  # 400/422 carry the PromQL error as JSON
            body = json.loads(exc.read() or b"{}")
        except (urllib.error.URLError, OSError) as exc:
            raise RunError(f"Prometheus API {path} on {self.url} unreachable: {exc}") from exc
        if body.get("status") != "success":
            raise RunError(f"Prometheus API {path} with {params}: {body.get('error', body)}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[Series]:
        """Instant query (at a Unix time, default now): one Series per vector element, or the scalar."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self._get("/api/v1/query", params)
        if data["resultType"] in ("scalar", "string"):
            ts, value = data["result"]
            return [Series({}, float(value), float(ts))]
        if data["resultType"] != "vector":
            raise RunError(f"query {expr!r} returned a {data['resultType']}; use an instant vector expression")
        return [Series(r["metric"], float(r["value"][1]), float(r["value"][0])) for r in data["result"]]

    def query_range(self, expr: str, start: float, end: float, step_s: float) -> list[list[Series]]:
        """Range query, as Grafana's time-series panels run it: one list of points per series."""
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step_s:g}"}
        data = self._get("/api/v1/query_range", params)
        return [[Series(r["metric"], float(value), float(ts)) for ts, value in r["values"]] for r in data["result"]]

    def wait_for_scrape(self, after: float, timeout_s: float | None = None) -> None:
        """Block until every target's latest scrape succeeded and started at or after `after` (Unix s).

        Call it after the run's last requests are in the master's stats and
        before the master exits, so Prometheus holds the final counters.
        """
        deadline = time.monotonic() + (timeout_s if timeout_s is not None else 5 * self.scrape_interval_s + 10)
        selector = f'up{{job="{JOB}"}}'
        while True:
            # timestamp() sees raw sample times only when applied directly to a selector
            scraped_at = {s.metric["instance"]: s.value for s in self.query(f"timestamp({selector})")}
            up = {s.metric["instance"]: s.value for s in self.query(selector)}
            fresh = [i for i, when in scraped_at.items() if when >= after and up.get(i) == 1.0]
            if len(fresh) >= len(self.targets):
                return
            if time.monotonic() > deadline:
                raise RunError(
                    f"Prometheus on {self.url} has no successful scrape of every target after {after:.3f} "
                    f"(last scrapes: {scraped_at or 'none'}, up: {up or 'none'})",
                    hint="check that each /metrics endpoint answers; Prometheus lists them under /targets",
                )
            time.sleep(POLL_S)

    def stop(self) -> None:
        """Terminate (then kill) the process and wait for it; idempotent."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT_S)
        if self._log is not None:
            self._log.close()
            self._log = None
