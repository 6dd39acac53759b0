"""report.html in a real browser: Chromium (Debian's package) headless, driven over WebDriver.

A real run writes the report; Chromium opens it from disk and the test asserts that every plot
rendered with data points, that the page logged no error and requested nothing but itself (it
must work from CI artifacts and air-gapped clusters), and keeps a screenshot under
test-artifacts/report/ (or $LOADTEST_TEST_ARTIFACTS/report/).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import e2e_runs as runs
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from loadtest.demo_target.server import DemoTarget

pytestmark = pytest.mark.e2e
CACHE_BIN = Path(os.environ.get("LOADTEST_CACHE", Path.home() / ".cache" / "loadtest")) / "bin"
SHOTS = Path(os.environ.get("LOADTEST_TEST_ARTIFACTS", runs.REPO / "test-artifacts")) / "report"
RENDER_TIMEOUT_S = 60.0


def _tool(name: str) -> str:
    for candidate in (CACHE_BIN / name, Path("/usr/bin") / name):
        if candidate.exists():
            return str(candidate)
    raise AssertionError(f"{name} is not installed: `make tools` runs scripts/install-chromium.sh")


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = _tool("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,2400", "--no-first-run", "--disable-extensions"):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(_tool("chromedriver")), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _open(driver: webdriver.Chrome, path: Path) -> dict[str, Any]:
    """Load the report and wait until its script has drawn every plot (or said why not)."""
    driver.get_log("browser")
    driver.get_log("performance")  # start both logs empty for this page
    driver.get(path.resolve().as_uri())
    deadline = time.monotonic() + RENDER_TIMEOUT_S
    while time.monotonic() < deadline:
        state: dict[str, Any] = driver.execute_script(
            "const d = document.body.dataset; return {drawn: d.plotsRendered || null, error: d.plotError || null}"
        )
        if state["drawn"] or state["error"]:
            return state
        time.sleep(0.1)
    raise AssertionError(f"the report's plots did not render within {RENDER_TIMEOUT_S:.0f} s")


PLOTS_JS = """
return Array.from(document.querySelectorAll('.plot')).map(el => ({
  id: el.id,
  drawn: el.classList.contains('js-plotly-plot'),
  points: (el.data || []).map(t => (t.x || []).length),
  lines: Array.from(el.querySelectorAll('path.js-line')).filter(p => (p.getAttribute('d') || '').length > 10).length,
  bars: el.querySelectorAll('g.trace.bars path').length,
}));
"""


def _check_page(driver: webdriver.Chrome, path: Path, shot: str) -> list[dict[str, Any]]:
    state = _open(driver, path)
    assert state["error"] is None, state["error"]
    plots: list[dict[str, Any]] = driver.execute_script(PLOTS_JS)
    assert int(state["drawn"]) == len(plots)
    for plot in plots:
        assert plot["drawn"], plot
        assert plot["points"] and plot["points"][0] > 0, plot  # the first trace has data points
        assert plot["lines"] + plot["bars"] > 0, plot  # and the browser drew them
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    urls = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.add(message["params"]["request"]["url"])
    assert urls == {path.resolve().as_uri()}  # the page alone: no CDN, no network
    SHOTS.mkdir(parents=True, exist_ok=True)
    target = SHOTS / shot
    assert driver.save_screenshot(str(target))
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and target.stat().st_size > 20_000
    return plots


def test_a_real_runs_report_renders_every_plot_offline(
    demo_target: DemoTarget, tmp_path: Path, permissive_sla: Path, browser: webdriver.Chrome
) -> None:
    result = runs.run(
        ["--host", demo_target.url, "--scenario", "api_browsing", "--users", "20", "--spawn-rate", "20",
         "--duration", "8s", "--workers", "1", "--sla", str(permissive_sla)],
        tmp_path / "results",
    )  # fmt: skip
    assert result.run_dir is not None, result.stderr[-3000:]
    verdict = json.loads((result.run_dir / "verdict.json").read_text())
    assert result.code == verdict["exit_code"], result.stderr[-3000:]  # PASS, or INCONCLUSIVE on a busy box
    report = result.run_dir / "report.html"
    assert f"report: {report}" in result.stdout
    plots = _check_page(browser, report, f"{result.run_dir.name}.png")
    ids = [p["id"] for p in plots]
    assert ids == [
        "fig-throughput", "fig-latency", "fig-failures", "fig-users", "fig-cpu", "fig-lag", "fig-runqueue",
        "fig-distribution",
    ]  # fmt: skip
    assert browser.find_element("id", "outcome").text == verdict["outcome"]
    stats = result.stats()
    shown = browser.execute_script(
        "return document.querySelector('tr[data-endpoint=\"Aggregated\"] td[data-col=requests]').dataset.value"
    )
    judged = next(c["measured"] for c in verdict["checks"] if c["metric"] == "requests")
    assert int(shown) == judged <= stats["aggregate"]["num_requests"]

    # `loadtest report` against an earlier run adds the comparison and the trend, also offline
    baseline = tmp_path / "results" / "earlier-run"
    shutil.copytree(result.run_dir, baseline)
    out = tmp_path / "compared.html"
    cli = subprocess.run(
        [sys.executable, "-m", "loadtest", "report", str(result.run_dir), "--baseline", str(baseline),
         "--out", str(out)],
        capture_output=True, text=True, timeout=120, cwd=runs.REPO,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert f"report: {out}" in cli.stdout
    plots = _check_page(browser, out, f"{result.run_dir.name}-compared.png")
    assert "fig-trend" in [p["id"] for p in plots]
    changes = browser.execute_script(
        "return Array.from(document.querySelectorAll('#comparison td[data-value]')).map(td => td.dataset.value)"
    )
    assert changes and all(float(c) == 0.0 for c in changes if c)  # the same run: nothing changed
