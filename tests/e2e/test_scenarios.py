"""Each scenario, for real: a short headless Locust run against the real demo target.

What these prove: every task's request reaches the target under its declared
name, every response passes the scenario's own validation (0 failures — so
the validators agree with the target's contract), the target really served
what Locust counted, and a load shape from `shapefile.py` drives the user
count, also on a worker that only gets it through the environment.

Users are ~100 rather than 20 so that even the rarest task (2 of 60 weight
units) runs in 10 s with near certainty: at 20 users it would be missing in
about one run in fifty, a flaky test.
"""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from loadtest.demo_target.server import DemoTarget
from loadtest.locust import shapes

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
LOCUST = ROOT / ".venv" / "bin" / "locust"
LOCUSTFILES = ROOT / "locustfiles"
RUN_S = 10
USERS = 100
LOCUST_TIMEOUT_S = 90  # a 10 s run plus start-up and shutdown; beyond this Locust is stuck

API_BROWSING_REQUESTS = {
    ("POST", "/api/auth/login"),
    ("GET", "/api/products"),
    ("GET", "/api/products?page={page}"),
    ("GET", "/api/products/{id}"),
    ("GET", "/api/products/{id} [unknown]"),
    ("GET", "/api/products?category={category}"),
    ("GET", "/api/products?min_price={min}&max_price={max}&in_stock=true"),
    ("GET", "/api/products/search?q={term}"),
    ("GET", "/api/categories"),
    ("GET", "/api/stats/summary"),
    ("GET", "/api/dashboard"),
    ("GET", "/api/me"),
}
MIXED_USERS_REQUESTS = {
    # LoginHeavyUser
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/login [bad password]"),
    ("GET", "/api/me"),
    # WriteHeavyUser
    ("POST", "/api/orders"),
    ("GET", "/api/orders"),
    ("GET", "/api/orders/{id}"),
    ("GET", "/api/dashboard"),
    # ReadHeavyUser (categories: fetched once before the first category filter)
    ("GET", "/api/products"),
    ("GET", "/api/products/{id}"),
    ("GET", "/api/products/search?q={term}"),
    ("GET", "/api/products?category={category}"),
    ("GET", "/api/categories"),
    ("GET", "/api/stats/summary"),
}


@pytest.fixture
def target(demo_target: DemoTarget) -> DemoTarget:
    """The session's demo target (tests/e2e/conftest.py); each test measures its own served delta."""
    return demo_target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def locust_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOADTEST_SHAPE")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(LOCUSTFILES), env.get("PYTHONPATH")]))
    return {**env, **extra}


def start_locust(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(LOCUST), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own group: a timeout kills it and anything it started
    )


def finish(proc: subprocess.Popen[str], timeout_s: float = LOCUST_TIMEOUT_S) -> tuple[int, str]:
    """Wait for Locust with a deadline; on expiry kill its process group and fail saying so."""
    try:
        output, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail(f"locust did not finish within {timeout_s} s; output:\n{output[-3000:]}")
    return proc.returncode, output


def run_locust(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    return finish(start_locust(args, cwd, env))


def read_stats(prefix: Path) -> dict[tuple[str, str], tuple[int, int]]:
    """(method, name) -> (requests, failures) from Locust's --csv stats file."""
    with open(f"{prefix}_stats.csv", newline="") as handle:
        return {
            (row["Type"], row["Name"]): (int(row["Request Count"]), int(row["Failure Count"]))
            for row in csv.DictReader(handle)
        }


def read_failures(prefix: Path) -> list[str]:
    with open(f"{prefix}_failures.csv", newline="") as handle:
        return [f"{r['Method']} {r['Name']}: {r['Error']} x{r['Occurrences']}" for r in csv.DictReader(handle)]


def run_scenario(
    scenario: str, target: DemoTarget, tmp_path: Path
) -> tuple[dict[tuple[str, str], tuple[int, int]], int]:
    before = target.served()
    prefix = tmp_path / scenario
    code, output = run_locust(
        [
            "-f",
            str(LOCUSTFILES / scenario / "locustfile.py"),
            "--headless",
            "-u",
            str(USERS),
            "-r",
            str(USERS),
            "-t",
            f"{RUN_S}s",
            "-H",
            target.url,
            "--csv",
            str(prefix),
            "--only-summary",
        ],
        tmp_path,
        locust_env(),
    )
    assert code == 0, f"locust exited {code}; failures {read_failures(prefix)}; output:\n{output[-3000:]}"
    return read_stats(prefix), target.served(settle_s=0.3) - before


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [("api_browsing", API_BROWSING_REQUESTS), ("mixed_users", MIXED_USERS_REQUESTS)],
)
def test_scenario_runs_every_task_with_zero_failures_and_the_target_served_them(
    scenario: str, expected: set[tuple[str, str]], target: DemoTarget, tmp_path: Path
) -> None:
    stats, served = run_scenario(scenario, target, tmp_path)
    total_requests, total_failures = stats.pop(("", "Aggregated"))
    assert set(stats) == expected
    assert all(requests > 0 for requests, _ in stats.values())
    assert total_failures == 0, read_failures(tmp_path / scenario)
    assert total_requests > USERS  # at least one login per user plus tasks
    # Users stopped mid-request at the end may have been served but not recorded: at most one each.
    assert total_requests <= served <= total_requests + USERS


def test_step_shape_drives_the_user_count_on_a_distributed_run(target: DemoTarget, tmp_path: Path) -> None:
    options = shapes.StepOptions(users=30, step_users=10, step_s=3, duration_s=9)
    env = locust_env(**shapes.shape_env(options))
    files = f"{LOCUSTFILES / 'api_browsing' / 'locustfile.py'},{shapes.SHAPEFILE}"
    port, prefix = free_port(), tmp_path / "shape"
    master = start_locust(
        [
            "-f",
            files,
            "--master",
            "--headless",
            "--expect-workers",
            "1",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(port),
            "-H",
            target.url,
            "--csv",
            str(prefix),
            "--csv-full-history",
            "--only-summary",
        ],
        tmp_path,
        env,
    )
    worker = start_locust(
        ["-f", files, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)], tmp_path, env
    )
    started = time.monotonic()
    try:
        code, output = finish(master)
        elapsed = time.monotonic() - started
        finish(worker, timeout_s=15)
    finally:
        for proc in (master, worker):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    assert code == 0, output[-3000:]
    assert "Shape test completed" in output  # the shape ended the run, not a time limit
    assert elapsed < options.duration_s + 15
    with open(f"{prefix}_stats_history.csv", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["Name"] == "Aggregated"]
    counts = [int(row["User Count"]) for row in rows]
    while counts and counts[-1] == 0:  # the last samples may come after the shape stopped every user
        counts.pop()
    assert counts == sorted(counts), f"{counts}"  # a staircase only goes up
    assert set(counts) <= {0, 10, 20, 30}, f"{counts}"
    for step in (10, 20, 30):  # each step held for most of its 3 s (history is sampled every second)
        assert counts.count(step) >= 2, f"{counts}"
    first_at = {step: next(int(r["Timestamp"]) for r in rows if int(r["User Count"]) == step) for step in (10, 20, 30)}
    assert 2 <= first_at[20] - first_at[10] <= 4 and 2 <= first_at[30] - first_at[20] <= 4, first_at
    stats = read_stats(prefix)
    assert stats[("", "Aggregated")][0] > 0 and stats[("", "Aggregated")][1] == 0


def test_bad_shape_options_stop_locust_before_any_user_with_the_fix(tmp_path: Path) -> None:
    env = locust_env(
        LOADTEST_SHAPE="step", LOADTEST_SHAPE_OPTIONS='{"users": 10, "step_users": 0, "step_s": 1, "duration_s": 5}'
    )
    files = f"{LOCUSTFILES / 'api_browsing' / 'locustfile.py'},{shapes.SHAPEFILE}"
    code, output = run_locust(["-f", files, "--headless", "-H", "http://127.0.0.1:9"], tmp_path, env)
    assert code == 2, output
    assert "error: step shape: option step_users = 0 is invalid: it must be a whole number >= 1" in output
    assert "hint: set step_users to the users added per step" in output
    assert "Traceback" not in output
