"""The report's numbers are the artifacts' numbers: stats.json's exact histograms, verdict.json's checks."""

from __future__ import annotations

import json
from html import escape as html_escape
from pathlib import Path

import pytest
from report_builders import T0, ReportReader, synthetic_artifact, write_run

from loadtest.core.errors import ReportError
from loadtest.gate import evaluation, sla
from loadtest.report import model, render
from loadtest.stats import histogram
from loadtest.stats.artifact import RunEvent

ENDPOINTS = ["/api/a", "/api/b", "/api/c"]
SLA = {"endpoints": [{"name": "/api/b", "method": "GET", "p95": "< 30"}]}


def _build(tmp_path: Path, name: str = "run", **kwargs: object) -> tuple[Path, ReportReader]:
    stats = synthetic_artifact(60, ENDPOINTS, **kwargs)  # type: ignore[arg-type]
    run_dir = write_run(tmp_path / name, stats, SLA)
    path = render.build(run_dir)
    return run_dir, ReportReader(path.read_text(encoding="utf-8"))


def test_endpoint_table_equals_the_gates_exact_merge_over_the_judged_window(tmp_path: Path) -> None:
    run_dir, report = _build(tmp_path, fail_every=37, slow={"/api/c": 80.0})
    stats = json.loads((run_dir / "stats.json").read_text())
    verdict = json.loads((run_dir / "verdict.json").read_text())
    window = evaluation.evaluation_window(stats, sla.parse({"version": 1, **SLA}, "sla.yaml"))
    merged = evaluation.merged_endpoints(stats, window)
    assert window.start == verdict["window"]["start"] == T0 + 3  # the warm-up the gate used
    assert set(report.endpoints) == {"GET /api/a", "GET /api/b", "GET /api/c", "Aggregated"}
    for (method, name), accum in merged.items():
        row = report.endpoints[f"{method} {name}"]
        assert int(row["requests"]) == accum.num_requests
        assert int(row["failures"]) == accum.num_failures
        for col, p in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
            assert float(row[col]) == histogram.percentile(accum.histogram, p)
        assert float(row["max"]) == accum.max_response_time_ms
        assert float(row["rps"]) == pytest.approx(accum.num_requests / verdict["window"]["seconds"])
        assert float(row["error_rate"]) == pytest.approx(accum.num_failures / accum.num_requests * 100)
    total = sum(a.num_requests for a in merged.values())
    aggregate = report.endpoints["Aggregated"]
    assert int(aggregate["requests"]) == total
    requests_check = next(c for c in verdict["checks"] if c["metric"] == "requests")
    assert requests_check["measured"] == total  # the table and the gate count the same window
    all_hist = histogram.merged(a.histogram for a in merged.values())
    assert float(aggregate["p95"]) == histogram.percentile(all_hist, 0.95)


def test_every_check_of_verdict_json_is_in_the_report_with_its_result_and_value(tmp_path: Path) -> None:
    run_dir, report = _build(tmp_path, slow={"/api/b": 60.0})
    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert verdict["outcome"] == "FAIL"  # /api/b p95 ~ 60 ms against < 30 ms
    assert [(c["metric"], c["subject"]) for c in report.checks] == [
        (c["metric"], c["subject"]) for c in verdict["checks"]
    ]
    for shown, check in zip(report.checks, verdict["checks"], strict=True):
        assert shown["class"] == check["result"]
        assert (float(shown["measured"]) if shown["measured"] else None) == check["measured"]
    html = (run_dir / "report.html").read_text()
    assert 'data-outcome="FAIL"' in html and html_escape(verdict["reason"], quote=False) in html


def test_time_series_are_the_exact_windows(tmp_path: Path) -> None:
    run_dir, report = _build(tmp_path)
    stats = json.loads((run_dir / "stats.json").read_text())
    figs = report.figures()
    rps = figs["fig-throughput"]["data"][0]
    assert rps["x"][:3] == [0.0, 1.0, 2.0]  # one point per 1 s window, seconds since the start
    per_window = {round(i["t"] - T0, 3): sum(e["num_requests"] for e in i["endpoints"]) for i in stats["intervals"]}
    assert dict(zip(rps["x"], rps["y"], strict=True)) == per_window
    assert figs["fig-throughput"]["data"][1]["y"] == [stats["planned_rps"]] * 2  # the planned-rate line
    p95 = figs["fig-latency"]["data"][1]
    for x, y in zip(p95["x"], p95["y"], strict=True):
        window = next(i for i in stats["intervals"] if i["t"] - T0 == x)
        merged = histogram.merged(histogram.from_pairs(e["histogram"]) for e in window["endpoints"])
        assert y == histogram.percentile(merged, 0.95)
    warmup = figs["fig-latency"]["layout"]["shapes"][0]
    assert (warmup["x0"], warmup["x1"]) == (0, 3.0)  # shaded until the first judged window
    users = figs["fig-users"]["data"][0]["y"]
    assert users == [i["users"] for i in sorted(stats["intervals"], key=lambda i: i["t"])]
    cpu = figs["fig-cpu"]["data"]
    assert cpu[0]["y"] == [s["cpu_percent"] for s in stats["workers"][0]["samples"]]
    assert cpu[-1]["y"] == [90.0, 90.0]  # the gate's default CPU limit


def test_a_long_run_is_drawn_from_exact_buckets_not_averaged_percentiles(tmp_path: Path) -> None:
    seconds = 3 * model.MAX_POINTS + 30  # 2,190 windows -> 4 s buckets
    stats = synthetic_artifact(seconds, ENDPOINTS, rps=6)
    summary = model.summarize(model.Run(tmp_path, "long", stats, None, {}))
    series = summary.series
    assert series is not None
    assert series.step_s == 4.0 and len(series.x) <= model.MAX_POINTS
    assert sum(r * series.step_s for r in series.rps[:-1]) + series.rps[-1] * (seconds % 4 or 4) == pytest.approx(
        stats["aggregate"]["num_requests"]
    )
    bucket = [i for i in stats["intervals"] if 400 <= i["t"] - T0 < 404]
    merged = histogram.merged(histogram.from_pairs(e["histogram"]) for i in bucket for e in i["endpoints"])
    index = series.x.index(400.0)
    assert series.p99[index] == histogram.percentile(merged, 0.99)
    for row in summary.rows:
        assert model.SPARK_POINTS <= len(row.spark) <= model.SPARK_POINTS + 1  # aligned to the judged window


def test_abort_point_is_marked_and_failures_are_plotted_by_endpoint(tmp_path: Path) -> None:
    abort = RunEvent(t=T0 + 42.5, kind="abort", detail="p95 breached")
    run_dir, report = _build(tmp_path, fail_every=10, events=[abort])
    figs = report.figures()
    lines = [s for s in figs["fig-throughput"]["layout"]["shapes"] if s["type"] == "line"]
    assert [s["x0"] for s in lines] == [42.5]
    stats = json.loads((run_dir / "stats.json").read_text())
    plotted = sum(sum(t["y"]) for t in figs["fig-failures"]["data"])
    assert plotted == stats["aggregate"]["num_failures"]  # 1 s buckets: failures/s sums to the count
    html = (run_dir / "report.html").read_text()
    assert "HTTPError(&#39;500&#39;)" in html  # the failure type table, escaped


def test_a_run_without_stats_or_verdict_still_gets_a_report_that_says_so(tmp_path: Path) -> None:
    run_dir = tmp_path / "broken"
    run_dir.mkdir()
    (run_dir / "spec.yaml").write_text("run_id: broken\nscenario: unit\n")
    html = render.build(run_dir).read_text()
    assert 'data-outcome="NONE"' in html
    assert "no stats.json: the master wrote no stats" in html
    assert "no verdict.json: no SLA gate judged this run" in html


def test_names_are_escaped_in_tables_and_cannot_close_the_figure_script(tmp_path: Path) -> None:
    stats = synthetic_artifact(10, ["/x</script><script>alert(1)</script>"])
    run_dir = write_run(tmp_path / "esc", stats)
    html = render.build(run_dir).read_text()
    assert "<script>alert(1)" not in html
    assert ReportReader(html).figures()["fig-distribution"]["data"][1]["name"].endswith("</script>")


def test_comparison_pools_the_baselines_and_flags_what_got_worse(tmp_path: Path) -> None:
    base1 = write_run(tmp_path / "b1", synthetic_artifact(60, ENDPOINTS, seed=1), SLA)
    base2 = write_run(tmp_path / "b2", synthetic_artifact(60, ENDPOINTS, seed=2), SLA)
    current = write_run(tmp_path / "new", synthetic_artifact(60, ENDPOINTS, seed=3, slow={"/api/b": 40.0}), SLA)
    summaries = [model.summarize(model.load_run(d), detail=False) for d in (base1, base2)]
    pooled = histogram.merged(s.by_key[("GET", "/api/b")].hist for s in summaries)
    report = ReportReader(render.build(current, [base1, base2]).read_text())
    new_p95 = float(report.endpoints["GET /api/b"]["p95"])
    change = float(report.comparison[("GET /api/b", "p95")])
    base_p95 = histogram.percentile(pooled, 0.95)
    assert base_p95 is not None
    assert change == pytest.approx((new_p95 - base_p95) / base_p95 * 100)
    assert change > 50  # 40 ms median against 20 ms
    assert float(report.comparison[("GET /api/a", "p95")]) < model.WORSE_LATENCY_PERCENT
    assert ("GET /api/b", "p95") in report.worse and ("GET /api/a", "p95") not in report.worse
    trend = report.figures()["fig-trend"]
    assert trend["data"][0]["x"] == ["unit-run", "unit-run (2)", "unit-run (3)"]  # two baselines, then this run


def test_report_command_errors_name_the_value_and_where_it_looked(tmp_path: Path) -> None:
    from loadtest.report.command import resolve_run

    with pytest.raises(ReportError) as err:
        resolve_run("nope-123", tmp_path, "RUN")
    assert "nope-123" in err.value.message and str(tmp_path / "nope-123") in err.value.message
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportError) as err:
        render.build(tmp_path / "empty")
    assert "not a run directory" in err.value.message


def test_sparkline_breaks_where_a_bucket_had_no_requests() -> None:
    svg = render.sparkline([10.0, 20.0, None, 5.0])
    path = svg.split(' d="')[1].split('"')[0]
    assert [p[0] for p in path.split()] == ["M", "L", "M"]
    assert render.sparkline([None, None]) == ""
