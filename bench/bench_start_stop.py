"""How soon does load start, and how long does a short run take, against raw Locust? Master + 2 workers.

Both sides run the same trivial locustfile against a loopback HTTP server in this process that
notes when the first request arrives:
  raw Locust - `locust --master --headless --expect-workers 2` and two `locust --worker`, started
               together, as a user would script it;
  loadtest   - `loadtest run --workers 2 --no-gate` (the controller's checks, the plugin, the
               artifacts, the summary; no Prometheus, no history).
Each does a 3 s run of 2 users; runs alternate, ROUNDS each. Figures: seconds from the command's
start to the first request, and to the command's exit (wall), medians, with loadtest / raw ratios.
Goals (issue 12): first request <= 1.0 s, wall within 1.1x of raw Locust's.

Run: .venv/bin/python bench/bench_start_stop.py
"""

from __future__ import annotations

import http.server
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROUNDS = 5
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "operator"))

from loadtest.core.processes import free_port  # noqa: E402

LOCUSTFILE = """
from locust import HttpUser, task, constant

class Quick(HttpUser):
    wait_time = constant(0.05)

    @task
    def ping(self):
        self.client.get("/ping")
"""


class Target:
    """Answers every GET with 200 and remembers when the first user request came."""

    def __init__(self) -> None:
        target = self
        self.first: float | None = None

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                if target.first is None and self.path == "/ping":  # a user's, not the pre-flight GET /
                    target.first = time.monotonic()
                body = b"ok"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]  # a user stopped mid-request
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


def raw(target: Target, locustfile: Path, env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    port = str(free_port())
    base = [sys.executable, "-m", "locust", "-f", str(locustfile)]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    return [
        subprocess.Popen([*base, "--master", "--headless", "--master-bind-host", "127.0.0.1", "--master-bind-port",
                          port, "--expect-workers", "2", "-u", "2", "-r", "2", "-t", "3s", "-H", target.url,
                          "--only-summary"], **quiet),  # type: ignore[call-overload]
        *(subprocess.Popen([*base, "--worker", "--master-host", "127.0.0.1", "--master-port", port], **quiet)  # type: ignore[call-overload]
          for _ in range(2)),
    ]  # fmt: skip


def ours(target: Target, locustfile: Path, env: dict[str, str], artifacts: Path) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
            [sys.executable, "-m", "loadtest", "run", "--locustfiles", str(locustfile), "--host", target.url,
             "--users", "2", "--spawn-rate", "2", "--workers", "2", "--duration", "3s", "--no-gate",
             "--artifacts-dir", str(artifacts), "--progress", "plain"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=REPO,
        )  # fmt: skip
    ]


def one(kind: str, locustfile: Path, env: dict[str, str], artifacts: Path) -> tuple[float, float]:
    target = Target()
    try:
        start = time.monotonic()
        procs = raw(target, locustfile, env) if kind == "raw" else ours(target, locustfile, env, artifacts)
        for proc in procs:
            if proc.wait(timeout=120) not in (0, 1):
                raise SystemExit(f"{kind}: a process exited with {proc.returncode}")
        wall = time.monotonic() - start
        if target.first is None:
            raise SystemExit(f"{kind}: no request arrived")
        return target.first - start, wall
    finally:
        target.server.shutdown()
        target.server.server_close()


def main() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOADTEST_")}
    env["PYTHONPATH"] = str(REPO / "operator")
    env["LOADTEST_HISTORY_URL"] = "off"
    results: dict[str, list[tuple[float, float]]] = {"raw": [], "loadtest": []}
    with tempfile.TemporaryDirectory(prefix="bench-start-stop-") as tmp:
        locustfile = Path(tmp) / "quick.py"
        locustfile.write_text(LOCUSTFILE)
        one("raw", locustfile, env, Path(tmp))  # warm the page cache and the bytecode
        for _ in range(ROUNDS):
            for kind in ("raw", "loadtest"):
                results[kind].append(one(kind, locustfile, env, Path(tmp) / "results"))
    print(f"bench_start_stop: master + 2 workers, 2 users, 3 s run; median of {ROUNDS} rounds, alternating")
    print(f"{'':<12}{'first request s':>17}{'wall s':>10}")
    med = {k: (statistics.median(a for a, _ in v), statistics.median(b for _, b in v)) for k, v in results.items()}
    for kind in ("raw", "loadtest"):
        print(f"{kind:<12}{med[kind][0]:>17.2f}{med[kind][1]:>10.2f}")
    first_ratio, wall_ratio = med["loadtest"][0] / med["raw"][0], med["loadtest"][1] / med["raw"][1]
    print(f"{'ratio':<12}{first_ratio:>16.2f}x{wall_ratio:>9.2f}x")
    print(
        f"first request {med['loadtest'][0]:.2f} s {'<=' if med['loadtest'][0] <= 1.0 else '>'} 1.0 s; "
        f"wall {wall_ratio:.2f}x raw Locust's {'<=' if wall_ratio <= 1.1 else '>'} 1.1x"
    )


if __name__ == "__main__":
    main()
