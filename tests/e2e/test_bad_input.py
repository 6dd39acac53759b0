"""Bad input: a clear error naming the field, the value and the fix; nothing started, nothing left."""

from __future__ import annotations

import json
from pathlib import Path

import e2e_runs as runs
import psutil
import pytest

from loadtest.core.processes import alive, free_port

GOOD = """
from locust import FastHttpUser, task, between

class U(FastHttpUser):
    wait_time = between(1, 2)

    @task
    def home(self):
        self.client.get("/healthz")
"""


def _locustfile(tmp_path: Path, text: str, name: str = "locustfile.py") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _refused(result: runs.Finished, *needles: str, code: int = 2) -> None:
    assert result.code == code, (result.code, result.stderr)
    assert result.stderr.startswith("error: "), result.stderr
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.run_dir is None, "a refused run must not create artifacts"
    assert result.survivors() == []


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--users", "0"], ["users = '0'", "at least 1", "--users"]),
        (["--spawn-rate", "0"], ["spawn_rate = '0'", "greater than 0"]),
        (["--spawn-rate", "-2"], ["spawn_rate = '-2'", "greater than 0"]),
        (["--duration", "tenminutes"], ["duration = 'tenminutes'", "e.g. 90s"]),
        (["--scenario", "no_such_scenario"], ["scenario = 'no_such_scenario'", "known scenarios", "api_browsing"]),
        (["--locustfiles", "/nonexistent/locustfile.py"], ["/nonexistent/locustfile.py", "does not exist"]),
    ],
)
def test_invalid_spec_values_are_refused_before_anything_starts(
    tmp_path: Path, args: list[str], needles: list[str]
) -> None:
    _refused(runs.run(args, tmp_path / "results", timeout_s=60), *needles)


def test_a_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = _locustfile(tmp_path, "from locust import HttpUser\n\nclass U(HttpUser:\n    pass\n")
    _refused(runs.run(["--locustfiles", str(path)], tmp_path / "results", 60), f"{path}:3", "SyntaxError")


def test_an_import_error_names_the_file_line_and_module(tmp_path: Path) -> None:
    path = _locustfile(tmp_path, "import locust\nimport module_that_does_not_exist_42\n")
    _refused(
        runs.run(["--locustfiles", str(path)], tmp_path / "results", 60),
        f"{path}:2",
        "module_that_does_not_exist_42",
    )


def test_a_locustfile_without_a_user_class_is_refused(tmp_path: Path) -> None:
    path = _locustfile(tmp_path, "import locust\nHELPER = 1\n")
    _refused(runs.run(["--locustfiles", str(path)], tmp_path / "results", 60), "defines no User class", "HttpUser")


def test_an_unreachable_host_is_found_by_preflight_with_the_address(tmp_path: Path) -> None:
    path = _locustfile(tmp_path, GOOD)
    host = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = runs.run(["--locustfiles", str(path), "--host", host], tmp_path / "results", 60)
    _refused(result, host, "unreachable", "no worker was started")


def test_a_host_outside_the_allowlist_is_refused_before_anything_starts(tmp_path: Path) -> None:
    path = _locustfile(tmp_path, GOOD)
    result = runs.run(
        ["--locustfiles", str(path), "--host", "https://www.example.com", "--allowed-hosts", "*.staging.example.com"],
        tmp_path / "results",
        60,
    )
    _refused(result, "'https://www.example.com'", "allowed_hosts", "nothing was started")


def test_the_allowlist_also_reads_its_environment_variable(tmp_path: Path) -> None:
    path = _locustfile(tmp_path, GOOD)
    result = runs.run(
        ["--locustfiles", str(path), "--host", "https://prod.example.com"],
        tmp_path / "results",
        60,
        env={"LOADTEST_ALLOWED_HOSTS": "staging.example.com"},
    )
    _refused(result, "'https://prod.example.com'", "not in allowed_hosts")


def test_a_worker_that_dies_during_start_up_is_reported_and_everything_is_stopped(
    tmp_path: Path, demo_target: object
) -> None:
    # Imports fine in the pre-flight probe and on the master, dies on the workers.
    text = "import sys\n" + GOOD + "\nif '--worker' in sys.argv:\n    raise RuntimeError('worker cannot start: boom')\n"
    path = _locustfile(tmp_path, text)
    result = runs.run(
        ["--locustfiles", str(path), "--host", demo_target.url, "--workers", "2", "--users", "2",  # type: ignore[attr-defined]
         "--start-timeout", "40s"],
        tmp_path / "results",
        120,
    )  # fmt: skip
    assert result.code == 4, result.stderr
    assert "worker-" in result.stderr and "during start-up" in result.stderr
    assert "worker cannot start: boom" in result.stderr  # the tail of the worker's log
    assert result.run_dir is not None and (result.run_dir / "events.jsonl").exists()
    events = [json.loads(line) for line in (result.run_dir / "events.jsonl").read_text().splitlines()]
    started = [e["pid"] for e in events if e["event"] in ("master_started", "worker_started")]
    assert len(started) == 3  # the master and both workers had started (the workers die in moments)
    assert result.survivors() == []
    assert alive([psutil.Process(pid) for pid in started if psutil.pid_exists(pid)]) == []
