"""The demo target as real processes on loopback: API contract, exact counters, faults, clean stops."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest

from loadtest.core.errors import RunError
from loadtest.demo_target.server import DemoTarget

DETAIL = "GET /api/products/{id}"
DELAY_MS = 600  # far above any unfaulted response time here, even on a loaded 2-core machine
Reply = tuple[int, Any, float]  # status, JSON body, seconds


def call(url: str, method: str = "GET", body: object = None, token: str | None = None) -> Reply:
    """One request on a fresh connection (urllib closes it): the kernel picks the worker each time."""
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), time.monotonic() - started
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), time.monotonic() - started


def parallel(count: int, request: Callable[[int], Reply], threads: int = 8) -> list[Reply]:
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(request, range(count)))


def gone(processes: list[psutil.Process], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        living = []
        for proc in processes:
            try:
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    living.append(proc)
            except psutil.NoSuchProcess:
                pass
        if not living:
            return True
        time.sleep(0.05)
    return False


def delta(after: dict[int, int], before: dict[int, int]) -> dict[int, int]:
    return {pid: n - before.get(pid, 0) for pid, n in after.items() if n - before.get(pid, 0) > 0}


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoTarget]:
    with DemoTarget(workers=2, data_dir=tmp_path_factory.mktemp("demo-target-e2e")) as running:
        yield running


@pytest.fixture(scope="module")
def token(target: DemoTarget) -> str:
    status, body, _ = call(
        f"{target.url}/api/auth/login", "POST", {"username": "user0007", "password": "demo-password"}
    )
    assert status == 200
    return str(body["access_token"])


@pytest.fixture(autouse=True)
def _no_faults_left(target: DemoTarget) -> Iterator[None]:
    yield
    target.clear_faults()


def test_api_answers_401_without_a_token_and_200_with_one_from_login(target: DemoTarget, token: str) -> None:
    assert call(f"{target.url}/api/products")[:2] == (
        401,
        {"detail": "missing Authorization header: send 'Authorization: Bearer <token>' from login"},
    )
    assert call(f"{target.url}/api/me", token="not.a.token")[0] == 401
    status, me, _ = call(f"{target.url}/api/me", token=token)
    assert (status, me["username"], me["id"]) == (200, "user0007", 7)
    assert call(f"{target.url}/api/auth/login", "POST", {"username": "user0007", "password": "nope"})[0] == 401


def test_pagination_totals_are_correct(target: DemoTarget, token: str) -> None:
    _, first, _ = call(f"{target.url}/api/products?page=1&page_size=100", token=token)
    _, last, _ = call(f"{target.url}/api/products?page=100&page_size=100", token=token)
    _, beyond, _ = call(f"{target.url}/api/products?page=101&page_size=100", token=token)
    assert (first["total"], first["pages"], len(first["items"])) == (10_000, 100, 100)
    assert [item["id"] for item in last["items"]] == list(range(9_901, 10_001))
    assert (beyond["items"], beyond["total"]) == ([], 10_000)
    assert call(f"{target.url}/api/products?page_size=101", token=token)[0] == 422


def test_an_unknown_id_is_404(target: DemoTarget, token: str) -> None:
    assert call(f"{target.url}/api/products/10000", token=token)[0] == 200
    assert call(f"{target.url}/api/products/10001", token=token)[:2] == (404, {"detail": "product 10001 not found"})
    assert call(f"{target.url}/api/orders/999999", token=token)[0] == 404


def test_filters_actually_filter(target: DemoTarget, token: str) -> None:
    url = f"{target.url}/api/products?category=garden&max_price=25&in_stock=false&page_size=100"
    _, body, _ = call(url, token=token)
    assert 0 < body["total"] < 100 and len(body["items"]) == body["total"]
    assert all(i["category"] == "garden" and i["price"] <= 25 and i["stock"] == 0 for i in body["items"])
    _, categories, _ = call(f"{target.url}/api/categories", token=token)
    per_category = [
        call(f"{target.url}/api/products?category={c['name']}&page_size=1", token=token)[1]["total"]
        for c in categories["items"]
    ]
    assert per_category == [c["product_count"] for c in categories["items"]]
    assert sum(per_category) == 10_000


def test_served_count_is_exact_across_worker_processes(target: DemoTarget, token: str) -> None:
    before_total, before_each = target.served(settle_s=0.3), target.served_by_process()
    sent = 0
    for _ in range(10):  # until the kernel has handed connections to at least two workers
        replies = parallel(60, lambda i: call(f"{target.url}/api/products/{i + 1}", token=token))
        assert {status for status, _, _ in replies} == {200}
        sent += len(replies)
        if len(delta(target.served_by_process(), before_each)) >= 2:
            break
    spread = delta(target.served_by_process(), before_each)
    assert len(spread) >= 2, f"every request went to one process: {spread}"
    assert target.served(settle_s=0.3) - before_total == sent == sum(spread.values())
    assert target.stats()["by_route"][DETAIL] >= sent


def test_a_delay_fault_slows_only_its_route_in_every_process(target: DemoTarget, token: str) -> None:
    target.set_fault(DETAIL, delay_ms=DELAY_MS)
    time.sleep(0.2)  # api.md: applies in every process within 0.2 s
    before = target.served_by_process(DETAIL)
    slow = parallel(32, lambda i: call(f"{target.url}/api/products/{i + 1}", token=token), threads=16)
    fast = parallel(16, lambda i: call(f"{target.url}/api/products?page={i + 1}", token=token))
    assert {status for status, _, _ in slow + fast} == {200}
    assert min(seconds for _, _, seconds in slow) >= DELAY_MS / 1000
    assert max(seconds for _, _, seconds in fast) < DELAY_MS / 1000
    assert len(delta(target.served_by_process(DETAIL), before)) >= 2  # the slowed requests hit every worker
    # The delay sleeps asynchronously: 16 concurrent delayed requests take about one delay, where
    # two workers sleeping on their event loops would need 8 delays one after the other.
    started = time.monotonic()
    parallel(16, lambda i: call(f"{target.url}/api/products/{i + 1}", token=token), threads=16)
    assert time.monotonic() - started < 4 * DELAY_MS / 1000


def test_an_error_fault_fails_only_its_route_in_every_process(target: DemoTarget, token: str) -> None:
    target.set_fault("GET /api/categories", error_rate=1.0, status=503)
    time.sleep(0.2)
    before = target.served_by_process("GET /api/categories")
    failed = parallel(40, lambda i: call(f"{target.url}/api/categories", token=token))
    assert {status for status, _, _ in failed} == {503}
    assert "injected fault" in failed[0][1]["detail"]
    assert len(delta(target.served_by_process("GET /api/categories"), before)) >= 2
    assert call(f"{target.url}/api/stats/summary", token=token)[0] == 200
    assert target.faults() == [
        {"route": "GET /api/categories", "delay_ms": 0, "error_rate": 1.0, "status": 503, "seed": None}
    ]
    target.clear_faults()
    time.sleep(0.2)
    assert {status for status, _, _ in parallel(16, lambda i: call(f"{target.url}/api/categories", token=token))} == {
        200
    }


def test_stop_leaves_no_process_behind(tmp_path: Path) -> None:
    target = DemoTarget(workers=3).start(timeout_s=60)
    tree = target.process_tree()
    data_dir, port = target.data_dir, target.port
    assert len(tree) >= 4  # supervisor + 3 workers (+ multiprocessing's resource tracker)
    target.stop(timeout_s=10)
    assert gone(tree, timeout_s=0.5)
    assert data_dir is not None and not data_dir.exists()  # a temporary data dir is removed
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_the_server_dies_with_a_killed_parent(tmp_path: Path) -> None:
    script = (
        "import json, sys, time\n"
        "from pathlib import Path\n"
        "from loadtest.demo_target.server import DemoTarget\n"
        f"t = DemoTarget(workers=2, data_dir=Path({str(tmp_path)!r})).start(timeout_s=60)\n"
        "print(json.dumps([p.pid for p in t.process_tree()]), flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pids = json.loads(parent.stdout.readline())
        tree = [psutil.Process(pid) for pid in pids]
        assert len(tree) >= 3
    finally:
        parent.kill()  # SIGKILL: no cleanup code runs in the parent
        parent.wait()
    assert gone(tree, timeout_s=10), "the demo target outlived its SIGKILLed parent"


@pytest.mark.parametrize("how", ["SIGTERM to the process", "Ctrl-C to the process group"])
def test_cli_runs_in_the_foreground_and_stops_cleanly(tmp_path: Path, how: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOADTEST_DEMO_")}
    env["LOADTEST_DEMO_WORKERS"] = "2"
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadtest.demo_target", "demo-target", "--port", "0",
         "--data-dir", str(tmp_path), "--slow", "GET /api/me=200"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        banner: list[str] = []
        while not banner or not banner[-1].startswith("stop with Ctrl-C"):
            line = proc.stdout.readline()
            assert line, f"the CLI exited early: {proc.stderr.read() if proc.stderr else ''}"
            banner.append(line)
        url = banner[0].split()[2]
        text = "".join(banner)
        assert "user0001 ... user0500" in text and "'demo-password'" in text and "GET /api/me: delay 200" in text
        deadline = time.monotonic() + 30
        tree: list[psutil.Process] = []
        while time.monotonic() < deadline and len(tree) < 3:
            tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
            time.sleep(0.05)
        status, login, _ = call(f"{url}/api/auth/login", "POST", {"username": "user0001", "password": "demo-password"})
        assert status == 200
        status, _, seconds = call(f"{url}/api/me", token=login["access_token"])
        assert status == 200 and seconds >= 0.2
        if how.startswith("SIGTERM"):
            proc.send_signal(signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=15) == 0
        assert gone(tree, timeout_s=5)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_a_busy_port_fails_start_with_the_log_tail_and_nothing_left(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        target = DemoTarget(port=port, data_dir=tmp_path)
        with pytest.raises(RunError) as caught:
            target.start(timeout_s=30)
    message = caught.value.message
    assert "exited with code 4" in message
    assert f"--port: cannot listen on 127.0.0.1:{port}" in message  # quoted from the server's log
    assert target.pid is None


def test_a_start_deadline_names_what_it_was_waiting_for(tmp_path: Path) -> None:
    target = DemoTarget(data_dir=tmp_path)
    with pytest.raises(RunError) as caught:
        target.start(timeout_s=0.05)
    assert "not ready within 0.05 s: still waiting for server.json" in caught.value.message
    assert "ends with:" in caught.value.message
    assert target.pid is None
