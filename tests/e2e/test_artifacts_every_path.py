"""Artifacts on every path out: a killed master, workers that never connect, a full disk, an
unusable artifacts directory, SIGTERM while the locustfile is checked.

Each run ends with verdict.json and junit.xml that name the cause (or, when the
run is refused, with exit 2 and nothing created), no traceback, and no process
left. Full disks are real: small tmpfs mounts this test makes and removes.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import e2e_runs as runs
import psutil
import pytest

HEALTHZ = runs.one_get_locustfile("/healthz", 0.2, prelude="import sys, time")


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], check=False).returncode != 0:
            users = [p.info for p in psutil.process_iter(["pid", "cmdline", "cwd"]) if str(path) in str(p.info)]
            subprocess.run(["umount", "-l", str(path)], check=True)
            raise AssertionError(f"something still used {path} after the run: {users}")


def fill(path: Path) -> None:
    """Take every free byte of the filesystem under `path`."""
    for name, chunk in (("filler", 1 << 20), ("filler-small", 512)):
        with contextlib.suppress(OSError), (path / name).open("wb") as f:
            while True:
                f.write(b"\0" * chunk)
                f.flush()


def _broken(result: runs.Finished, *needles: str) -> dict[str, Any]:
    """Exit 4, a one-line error, and verdict.json + junit.xml that carry the cause."""
    assert result.code == 4, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "error: " in result.stderr, result.stderr
    verdict = runs.verdict(result)
    assert (verdict["outcome"], verdict["exit_code"]) == ("INCONCLUSIVE", 4), verdict
    for needle in needles:
        assert needle in verdict["error"], (needle, verdict["error"])
    junit = ET.parse(result.run_dir / "junit.xml").getroot()  # type: ignore[operator]
    errors = [e.get("message", "") for e in junit.iter("error")]
    assert errors and needles[0] in errors[0], errors
    assert result.survivors() == [], [p.cmdline() for p in result.survivors()]
    return verdict


def _when_running(seconds: float, then: Any) -> runs.Action:
    def act(status: dict[str, Any], proc: Any, pids: set[int]) -> bool:
        started = status.get("spawn_complete_at")
        if status.get("state") != "running" or not started or status.get("t", 0) - float(started) < seconds:
            return False
        then(pids)
        return True

    return act


def test_a_killed_master_leaves_a_verdict_that_says_so(tmp_path: Path, demo_target: Any) -> None:
    path = tmp_path / "locustfile.py"
    path.write_text(HEALTHZ)

    def kill_master(pids: set[int]) -> None:
        for p in runs.locust_processes(pids, "--master"):
            p.send_signal(signal.SIGKILL)

    result = runs.run(
        ["--locustfiles", str(path), "--host", demo_target.url, "--users", "4", "--duration", "60s"],
        tmp_path / "results",
        120,
        act=_when_running(2, kill_master),
    )
    verdict = _broken(result, "killed by SIGKILL")
    assert "the master wrote no stats.json" in verdict["error"]
    assert "killed by SIGKILL" in result.stderr
    # what the master had written to its window log is not lost: stats.json is rebuilt, incomplete
    assert "recovered from windows.jsonl.gz into stats.json" in verdict["error"], verdict["error"]
    stats = result.stats()
    assert stats["complete"] is False and stats["events"][-1]["kind"] == "recovered"
    assert len(stats["intervals"]) >= 2 and stats["aggregate"]["num_requests"] > 0
    windowed = sum(e["num_requests"] for i in stats["intervals"] for e in i["endpoints"])
    assert windowed == stats["aggregate"]["num_requests"]


def test_workers_that_never_connect_leave_a_verdict(tmp_path: Path, demo_target: Any) -> None:
    path = tmp_path / "locustfile.py"
    path.write_text(HEALTHZ + "\nif '--worker' in sys.argv:\n    time.sleep(600)\n")
    result = runs.run(
        ["--locustfiles", str(path), "--host", demo_target.url, "--start-timeout", "4s"],
        tmp_path / "results",
        120,
    )
    verdict = _broken(result, "only 0 of 1 workers connected")
    assert "worker-0" in verdict["error"] and "blocks at import" in verdict["error"], verdict["error"]
    assert "its log" in result.stderr and "python LOCUSTFILE" in result.stderr


def test_a_disk_that_fills_during_the_run_still_gets_its_verdict(tmp_path: Path, demo_target: Any) -> None:
    path = tmp_path / "locustfile.py"
    path.write_text(HEALTHZ)
    with tmpfs(tmp_path / "small", "80m") as disk:
        result = runs.run(
            ["--locustfiles", str(path), "--host", demo_target.url, "--users", "4", "--duration", "8s"],
            disk / "results",
            120,
            act=_when_running(1, lambda pids: fill(disk)),
        )
        assert (disk / "filler").exists()
        verdict = _broken(result, "no space left on device")
        assert "ENOSPC" in verdict["error"]
        assert "report.html could not be written" in result.stderr


def test_a_full_disk_while_the_demo_target_is_set_up_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "locustfile.py"
    path.write_text(HEALTHZ)
    with tmpfs(tmp_path / "cache", "1m") as cache:
        fill(cache)
        result = runs.run(
            ["--locustfiles", str(path), "--users", "2", "--duration", "5s"],
            tmp_path / "results",
            120,
            env={"LOADTEST_CACHE": str(cache)},  # the demo target seeds its database here
        )
    _broken(result, "full")
    assert "the run broke" in result.stderr


@pytest.mark.parametrize("kind", ["a file", "under /proc", "a disk without room"])
def test_an_unusable_artifacts_dir_is_refused_before_anything_starts(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "locustfile.py"
    path.write_text(HEALTHZ)
    with contextlib.ExitStack() as stack:
        if kind == "a file":
            artifacts = tmp_path / "results"
            artifacts.write_text("not a directory")
            needle = "is not a directory"
        elif kind == "under /proc":
            artifacts = Path("/proc/loadtest-nope")
            needle = "is not writable"
        else:
            artifacts = stack.enter_context(tmpfs(tmp_path / "tiny", "2m")) / "results"
            needle = "MiB free; a run needs at least 64 MiB"
        result = runs.watch(
            runs.start(["--locustfiles", str(path), "--host", "http://127.0.0.1:9", "--artifacts-dir", str(artifacts)]),
            tmp_path / "none",
            60,
        )
        assert result.code == 2, result.stderr
        assert f"artifacts_dir = '{artifacts}'" in result.stderr and needle in result.stderr, result.stderr
        assert "--artifacts-dir" in result.stderr and "Traceback" not in result.stderr
        if artifacts.is_dir():
            assert list(artifacts.iterdir()) == []
        assert result.survivors() == []


def test_sigterm_while_the_locustfile_is_checked_exits_130_and_kills_the_probe(tmp_path: Path) -> None:
    path = tmp_path / "locustfile.py"
    path.write_text("import time\ntime.sleep(60)\n" + HEALTHZ)
    probes: list[psutil.Process] = []

    def terminate(status: dict[str, Any], proc: Any, pids: set[int]) -> bool:
        for pid in pids:
            with contextlib.suppress(psutil.NoSuchProcess):
                if "loadtest.locust.probe" in psutil.Process(pid).cmdline():
                    probes.append(psutil.Process(pid))
                    proc.send_signal(signal.SIGTERM)
                    return True
        return False

    result = runs.run(["--locustfiles", str(path)], tmp_path / "results", 60, act=terminate)
    assert probes, "the probe was never seen"
    assert result.code == 130, result.stderr
    assert "interrupted" in result.stderr and "Traceback" not in result.stderr
    assert not probes[0].is_running() or probes[0].status() == psutil.STATUS_ZOMBIE
    assert result.survivors() == [] and result.run_dir is None


def test_sigterm_at_any_moment_of_the_start_exits_cleanly(tmp_path: Path) -> None:
    """SIGTERM swept across the start (imports, checks, the demo target and the fleet starting): every
    run ends in exit 130 with no traceback and no process left. A signal that used to land inside an
    import left asyncio half-imported, and the way out crashed with a NameError (loadtest.core.interrupts).
    Before the handler exists nothing has started, so the default death by SIGTERM is fine there."""
    path = tmp_path / "locustfile.py"
    path.write_text(HEALTHZ)
    codes = []
    for step in range(10):
        artifacts = tmp_path / f"results-{step}"
        proc = runs.start(["--locustfiles", str(path), "--duration", "5s", "--artifacts-dir", str(artifacts)])
        time.sleep(0.15 * step)
        proc.send_signal(signal.SIGTERM)
        result = runs.watch(proc, artifacts, 60)
        codes.append(result.code)
        assert "Traceback" not in result.stderr and "unexpected" not in result.stderr, (step, result.stderr)
        if result.code == -signal.SIGTERM:  # before `loadtest run` installed its handler: nothing started
            assert result.descendants == set() and not artifacts.exists(), step
        else:
            assert result.code == 130 and "interrupted" in result.stderr, (step, result.code, result.stderr)
        left = [(p.pid, p.cmdline()[:4]) for p in result.survivors()]
        assert left == [], (step, result.code, result.stderr)
    assert codes.count(130) >= 6, codes  # the sweep really covers the start, not only the moment before it
