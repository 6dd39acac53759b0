"""The controller: one validated run spec in, one finished run with artifacts and an exit code out.

Order matters: every check that can refuse the run (spec, locustfiles, SLA
file, shape options, allowlist, reachability) happens before a single process
starts, and once something has started, the finally-blocks below stop it
whatever happens next.
"""

from __future__ import annotations

import contextlib
import functools
import json
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TextIO

import yaml

from loadtest.backends.local.fleet import LocalBackend, LocalPlan
from loadtest.core import hosts
from loadtest.core.errors import LoadtestError, RunError, SpecError
from loadtest.core.eventlog import EventLog
from loadtest.core.exitcodes import ExitCode
from loadtest.core.progress import ProgressDisplay
from loadtest.core.spec import Backend, RunSpec, new_run_id, to_yaml
from loadtest.locust import shapes
from loadtest.locust.locustfiles import LocustfileInfo, declared_connections, probe, resolve_files, stop_probes
from loadtest.run import summary
from loadtest.run.background import Background, Refused
from loadtest.run.gating import gate_after_run
from loadtest.run.preflight import check_allowed, check_reachable, check_websocket, file_limit
from loadtest.stats import artifact

if TYPE_CHECKING:
    pass

DEMO_START_TIMEOUT_S = 120.0  # a cold start seeds the demo database first
PROM_SCRAPE_S = 2.0  # live enough for a dashboard, cheap enough for a 2-core runner
LOCUST_REPORT_FILE = "locust_report.html"  # Locust's own; report.html is ours (loadtest.report)
MIN_FREE_BYTES = 64 * 1024 * 1024  # a 1-minute run leaves ~15 MB (stats, CSV, logs, two HTML reports)
START_FILE = ".start"  # created when the last check passed: the master starts users only then
RUN_SECRET_ENV = "LOADTEST_RUN_SECRET"  # loadtest.locust.auth reads it in the master and the workers


@dataclass
class Prepared:
    spec: RunSpec
    info: LocustfileInfo  # without user classes until `last_checks` probed them
    shape: shapes.ShapeOptions | None
    sla_path: Path | None
    run_id: str
    run_dir: Path
    peak_users: int
    workers: int
    connections: int = 0  # WebSocket connections planned (users x the locustfile's websocket_connections)

    @property
    def websocket(self) -> bool:
        """The run connects to a WebSocket endpoint (hosts.websocket_endpoint)."""
        return bool(self.connections) or self.spec.websocket_url is not None


def prepare(spec: RunSpec) -> Prepared:
    """Every refusal happens here, before anything is started; but a local run's slowest checks
    (`last_checks`: the locustfile probe, the pre-flight request) run while its processes start:
    the master starts no user before they passed, and a refusal (or Ctrl-C meanwhile) stops every
    process and removes the run directory: the same error, no request sent, nothing left."""
    if spec.backend == Backend.KUBERNETES and spec.prometheus:
        raise SpecError(
            "prometheus = true starts a local Prometheus for the local backend only",
            hint="on Kubernetes enable the chart's ServiceMonitor: "
            "--helm-values '{metrics: {serviceMonitor: {enabled: true}}}'",
        )
    if spec.host is not None:
        check_allowed(spec.host, spec.allowed_hosts)  # before any user code is imported
    files, pythonpath = resolve_files(spec)
    shape = shapes.parse_options(spec.shape.value, spec.shape_options) if spec.shape else None
    info = LocustfileInfo(files, pythonpath, [], [])
    sla_path = None if spec.no_gate else _sla_path(spec, files)
    if sla_path is not None:
        from loadtest.gate import sla as sla_module

        sla_module.load(sla_path)  # a bad SLA file is a usage error before any load
    peak = shapes.peak_users(shape) if shape is not None else spec.users
    each, declaring = declared_connections(files)
    connections = peak * each
    workers = spec.workers if spec.workers is not None else max(
        1, -(-peak // spec.users_per_worker), -(-connections // spec.connections_per_worker)
    )
    if spec.websocket_url is not None:
        _check_websocket_url(spec)
    if connections and spec.backend == Backend.LOCAL:
        _raise_file_limit(connections, workers, 0 if spec.host else spec.demo_workers,
                          f"users = {peak:,} with {declaring}.websocket_connections = {each}")  # fmt: skip
    run_id = spec.run_id or new_run_id(spec.scenario_name)
    check_artifacts_dir(spec)  # last of the local checks: the verdict's room is reserved right after
    run_dir = spec.artifacts_dir / run_id
    if run_dir.exists():
        raise SpecError(f"run_id = {run_id!r}: {run_dir} already exists", hint="choose another run_id")
    prepared = Prepared(spec, info, shape, sla_path, run_id, run_dir, peak, workers, connections)
    if spec.backend != Backend.LOCAL:
        last_checks(prepared)  # the local backend runs them while its processes start
    return prepared


def _check_websocket_url(spec: RunSpec) -> None:
    """websocket_url: the local backend only, and a host the run's allowlist lets every process reach."""
    url = spec.websocket_url
    assert url is not None
    if spec.backend != Backend.LOCAL:
        raise SpecError(
            "websocket_url applies to the local backend (the chart does not pass it to the pods yet)",
            hint="on Kubernetes the locustfile connects to the host's /ws; or call your endpoint in the locustfile",
        )
    if spec.host is None:
        return  # the demo target's port is not known yet; the processes' allowlist still holds
    if not hosts.url_allowed(hosts.http_form(url), hosts.entries_for(spec.host, spec.allowed_hosts)):
        raise SpecError(
            f"websocket_url = {url!r} is not on the target host ({spec.host}) nor in allowed_hosts",
            hint="every connection of the run must go to an allowed host: add it to allowed_hosts on purpose",
        )


def _raise_file_limit(connections: int, workers: int, target_processes: int, what: str) -> None:
    """Every process of a local run may open its share of the WebSocket connections: the soft limit
    on open files is raised where the hard limit allows it (the processes inherit it), else refused."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    unlimited = -1 if hard == resource.RLIM_INFINITY else hard
    need = file_limit(connections, workers, target_processes, soft, unlimited, what)
    if need > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def last_checks(p: Prepared) -> None:
    """The slowest checks, last: the locustfile probe (a child imports Locust and the locustfiles:
    it imports, defines users, and no shape of its own when the spec has one), then the pre-flight
    request to the target (after the probe: a refused locustfile sends nothing anywhere).

    The locustfile is imported under the run's allowlist: a request at import time to another
    host fails in the probe; the demo target's port may not be known yet, so loopback stands for it.
    """
    spec = p.spec
    guard = hosts.entries_for(spec.host or "http://127.0.0.1", spec.allowed_hosts)
    p.info = probe(p.info.files, p.info.pythonpath, guard)
    if p.shape is not None and p.info.shape_classes:
        raise SpecError(
            f"shape = {spec.shape!s} but the locustfile already defines {p.info.shape_classes[0]}",
            hint="remove 'shape' from the spec, or the LoadTestShape class from the locustfile",
        )
    if spec.host is not None and spec.backend == Backend.LOCAL:
        # In a cluster the pods reach the target, not necessarily this machine: no local pre-flight.
        check_reachable(spec.host)
        if p.websocket:
            check_websocket(hosts.websocket_endpoint(spec.websocket_url, spec.host))


def check_artifacts_dir(spec: RunSpec) -> None:
    """The artifacts directory exists (or can be made), is writable and has room, before anything starts."""
    path = spec.artifacts_dir
    hint = "set artifacts_dir (--artifacts-dir, LOADTEST_ARTIFACTS_DIR) to a writable directory"
    if path.exists() and not path.is_dir():
        raise SpecError(f"artifacts_dir = '{path}' is not a directory", hint=hint)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".loadtest-write-check-"):
            pass
        free = shutil.disk_usage(path).free
    except OSError as exc:
        raise SpecError(f"artifacts_dir = '{path}' is not writable: {exc.strerror or exc}", hint=hint) from exc
    if free < MIN_FREE_BYTES:
        raise SpecError(
            f"artifacts_dir = '{path}' has {free / 2**20:.1f} MiB free; a run needs at least "
            f"{MIN_FREE_BYTES / 2**20:.0f} MiB for its stats, logs and reports",
            hint="free some space, or " + hint.replace("a writable directory", "a disk with room"),
        )


def _sla_path(spec: RunSpec, files: list[Path]) -> Path | None:
    if spec.sla is not None:
        if not spec.sla.is_file():
            raise SpecError(f"sla = '{spec.sla}' does not exist", hint="pass an existing SLA YAML file to --sla")
        return spec.sla
    default = files[0].parent / "sla.yaml"  # a scenario folder ships its sla.yaml beside the locustfile
    return default if default.is_file() else None


@functools.cache
def _git_revision() -> str:
    """Asked once per run (the Locust environment and fingerprint.json both carry it)."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _locust_args(p: Prepared, host: str) -> tuple[list[str], list[str], dict[str, str]]:
    spec = p.spec
    run_dir = p.run_dir.resolve()
    common: list[str] = []
    if spec.tags:
        common += ["--tags", *spec.tags]
    if spec.exclude_tags:
        common += ["--exclude-tags", *spec.exclude_tags]
    master = [
        "--headless", "--only-summary",
        "-H", host,
        "--stop-timeout", str(int(spec.stop_timeout)),
        "--csv", str(run_dir / "locust"), "--csv-full-history",
        "--html", str(run_dir / LOCUST_REPORT_FILE),
        "--loadtest-run-id", p.run_id,
        "--loadtest-scenario", spec.scenario_name,
        "--loadtest-artifacts", str(run_dir),
    ]  # fmt: skip
    env = {
        "LOADTEST_GIT_REVISION": _git_revision(),
        # Only this run's processes get the secret (environment, never argv or artifacts): a worker
        # without it is refused by the master (loadtest.locust.auth).
        RUN_SECRET_ENV: secrets.token_hex(32),
        # Every Locust process refuses requests to other hosts (loadtest.locust.allowlist).
        hosts.ENV: hosts.to_env(hosts.entries_for(host, spec.allowed_hosts)),
    }
    if p.shape is None:
        # the run time is counted by the plugin from the moment users start (after the last check),
        # not by Locust's -t, whose clock starts while the master may still be held
        master += ["-u", str(spec.users), "-r", str(spec.effective_spawn_rate)]
        master += ["--loadtest-run-time", f"{spec.duration:g}"]
    else:
        env.update(shapes.shape_env(p.shape))
    if p.sla_path is not None:
        master += ["--loadtest-sla", str(p.sla_path.resolve())]
    if p.websocket:
        env[hosts.WEBSOCKET_ENV] = hosts.websocket_endpoint(spec.websocket_url, host)
    return master + common, common, env


def _start_prometheus(stack: contextlib.ExitStack, p: Prepared, log: EventLog, progress: ProgressDisplay) -> list[str]:
    """A real Prometheus scraping the master's /metrics; its data stays in the run's artifacts."""
    from loadtest.core.processes import free_port
    from loadtest.metrics.prometheus import PrometheusServer

    metrics_port = free_port()
    prom = PrometheusServer(
        [f"127.0.0.1:{metrics_port}"], p.run_dir.resolve() / "prometheus", scrape_interval_s=PROM_SCRAPE_S
    )
    stack.callback(prom.stop)
    prom.start()
    log("prometheus_started", url=prom.url, metrics_port=metrics_port)
    progress.message(f"Prometheus at {prom.url} (scraping the master every {PROM_SCRAPE_S:g} s; stops with the run)")
    # The master lingers after writing its artifacts so the final counters and the verdict are scraped.
    linger = 2 * PROM_SCRAPE_S + 1
    return ["--loadtest-metrics-port", str(metrics_port), "--loadtest-linger", str(linger)]


def execute(p: Prepared, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run on the spec's backend, judge it against the runs before it, then record it; report.html
    is written and the run recorded on every path out (pass, fail, error, Ctrl-C)."""
    try:
        code = _execute(p, out, err)
        # the history (SQLAlchemy: ~0.25 s to import) once the load has run, not before it starts
        from loadtest.run import against_history

        return against_history.judge(p.run_dir, p.sla_path, p.spec.artifacts_dir, code, out, err)
    finally:
        from loadtest.run import against_history

        write_report(p.run_dir, out, err, against_history.baseline_dirs(p.run_dir, p.spec.artifacts_dir))
        record_history(p.run_dir, p.spec.artifacts_dir, out, err)


def record_history(run_dir: Path, artifacts_dir: Path, out: TextIO, err: TextIO) -> None:
    """Record the run in the history store; a store that cannot be reached loses nothing: the
    artifacts stay and the user gets the command that records the run later."""
    from loadtest.history import record, store
    from loadtest.history.fingerprints import FINGERPRINT_FILE

    if not (run_dir / FINGERPRINT_FILE).is_file():
        return  # nothing started: there is no run to record
    url = store.url_for(artifacts_dir)
    if url is None:
        return
    try:
        st = store.open_store(url)
        try:
            st.record(record.rows(run_dir))
        finally:
            st.close()
    except KeyboardInterrupt:
        err.write(f"history: not recorded (interrupted); record it with: loadtest history import {run_dir}\n")
        return
    except Exception as exc:  # noqa: BLE001 - the run's exit code stands whatever the store does
        message = exc.message if isinstance(exc, LoadtestError) else f"{type(exc).__name__}: {exc}"
        err.write(
            f"history: the run was not recorded: {message}\n"
            f"history: its artifacts are kept; record it later with: loadtest history import {run_dir}\n"
        )
        return
    out.write(f"history: recorded in {store.shown(url)}\n")


def write_report(run_dir: Path, out: TextIO, err: TextIO, baselines: list[Path] | None = None) -> None:
    """Build report.html from whatever artifacts the run left (compared with its baseline runs when
    their artifacts are here); failing to is said, never fatal."""
    from loadtest.report import render

    if not (run_dir / "spec.yaml").is_file():
        return  # nothing started: there is no run to report on
    try:
        path = render.build(run_dir, baselines or ())
    except KeyboardInterrupt:
        err.write(f"report.html skipped (interrupted); rebuild it with: loadtest report {run_dir}\n")
        return
    except Exception as exc:  # noqa: BLE001 - the run's exit code stands whatever the report does
        err.write(
            f"report.html could not be written ({type(exc).__name__}: {exc}); "
            f"rebuild it with: loadtest report {run_dir}\n"
        )
        return
    out.write(f"report: {path}\n")


def _execute(p: Prepared, out: TextIO, err: TextIO) -> int:
    spec = p.spec
    p.run_dir.mkdir(parents=True)
    if spec.backend == Backend.LOCAL:
        _reserve_verdict(p)  # first: a disk that fills from here on cannot lose the verdict
    try:
        (p.run_dir / "spec.yaml").write_text(
            to_yaml(spec, run_id=p.run_id, workers=p.workers, sla=str(p.sla_path) if p.sla_path else None),
            encoding="utf-8",
        )
        log = EventLog(p.run_dir / "events.jsonl")
        _write_fingerprint(p)
    except OSError as exc:
        _write_broken_verdict(p, f"cannot write to {p.run_dir}: {exc.strerror or exc}")
        raise RunError(f"cannot write to {p.run_dir}: {exc.strerror or exc}", hint="check the disk") from exc
    progress = ProgressDisplay(spec.progress, stream=err)
    if spec.backend == Backend.LOCAL:
        progress.hold()  # nothing said about a run its last check may still refuse (see checks_passed)
    log("run_started", run_id=p.run_id, users=p.peak_users, workers=p.workers, backend=str(spec.backend))
    progress.message(f"run {p.run_id}: {p.peak_users} users on {p.workers} workers, artifacts in {p.run_dir}/")
    interrupted = False
    if spec.backend == Backend.KUBERNETES:
        try:
            return _execute_kubernetes(p, log, progress, out)
        finally:
            log("run_finished")
            log.close()
    master_exit: int | None = None
    refused: LoadtestError | None = None
    checks = Background(functools.partial(last_checks, p))  # while the demo target and the fleet start
    passed: list[bool] = []

    def checks_passed() -> None:
        checks.result()
        passed.append(True)
        progress.release()
    try:
        with contextlib.ExitStack() as stack:
            host = spec.host or _start_demo_target(stack, p, log, progress)
            if checks.done():
                checks.result()  # already refused: start nothing more
            master_args, worker_args, env = _locust_args(p, host)
            if spec.prometheus:
                master_args += _start_prometheus(stack, p, log, progress)
            files = list(p.info.files) + ([shapes.SHAPEFILE] if p.shape is not None else [])
            plan = LocalPlan(
                run_dir=p.run_dir,
                locust_files=files,
                pythonpath=p.info.pythonpath,
                host=host,
                workers=p.workers,
                master_args=master_args,
                worker_args=worker_args,
                env=env,
                start_timeout_s=spec.start_timeout,
                run_seconds=None if p.shape is not None else spec.duration,
                stop_timeout_s=spec.stop_timeout,
                checks=checks_passed,
                start_file=p.run_dir / START_FILE,
            )
            outcome = LocalBackend(plan, log, progress).run()
            interrupted, master_exit = outcome.interrupted, outcome.master_exit
            if outcome.timed_out:
                raise RunError(f"the run did not end in time; partial artifacts are in {p.run_dir}/")
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted", detail="before the load started")
    except Refused as exc:
        refused = exc.error
    except LoadtestError as exc:
        log("run_error", error=str(exc))
        _write_broken_verdict(p, exc.message)
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. OSError from a full disk: a clear error, never a traceback
        cause = f"{type(exc).__name__}: {exc}"
        log("run_error", error=cause)
        _save_traceback(p, exc)
        _write_broken_verdict(p, cause)
        raise RunError(
            f"the run broke: {cause}",
            hint=f"verdict.json and events.jsonl in {p.run_dir}/ say how far it got",
        ) from exc
    finally:
        log("run_finished", interrupted=interrupted)
        log.close()
        (p.run_dir / START_FILE).unlink(missing_ok=True)
        if not passed:
            stop_probes()
        progress.release(show=refused is None and (bool(passed) or not interrupted))
    if refused is not None or (interrupted and not passed):
        # refused, or interrupted while the checks ran: as if before anything started (no request
        # was sent): nothing is left
        shutil.rmtree(p.run_dir, ignore_errors=True)
        if refused is not None:
            raise refused
        raise KeyboardInterrupt
    return _report(p, out, interrupted, master_exit)


def _write_fingerprint(p: Prepared) -> None:
    """What makes this run comparable with others (history), fixed when it starts."""
    from loadtest.history.fingerprints import FINGERPRINT_FILE, fingerprint

    spec = {**p.spec.model_dump(mode="json"), "scenario": p.spec.scenario_name, "users": p.peak_users}
    parts = fingerprint(spec, list(p.info.files), p.sla_path)
    parts["git_revision"] = _git_revision()
    (p.run_dir / FINGERPRINT_FILE).write_text(json.dumps(parts, indent=1, sort_keys=True), encoding="utf-8")


def _gate_kind(p: Prepared) -> tuple[Literal["sla", "baseline", "none"], str]:
    if p.spec.no_gate:
        return "none", "--no-gate (LOADTEST_NO_GATE): nothing was judged"
    if p.sla_path is not None:
        return "sla", str(p.sla_path)
    return "baseline", "no SLA file: the scenario has no sla.yaml and --sla was not given"


def _reserve_verdict(p: Prepared) -> None:
    """Placeholders with room for the real verdict, so a disk that fills during the run cannot lose it."""
    from loadtest.gate import output
    from loadtest.gate.verdict import unjudged

    gate, source = _gate_kind(p)
    cause = "the run has not finished: the controller is still running, or was killed before writing the verdict"
    placeholder = unjudged(p.run_id, p.spec.scenario_name, error=cause, gate=gate, gate_source=source, reason=cause)
    output.reserve(p.run_dir, placeholder)


def _write_broken_verdict(p: Prepared, cause: str) -> None:
    """verdict.json and junit.xml for a run that broke: the cause is the reason; exit code 4."""
    from loadtest.gate import output
    from loadtest.gate.verdict import unjudged

    gate, source = _gate_kind(p)
    verdict = unjudged(
        p.run_id, p.spec.scenario_name, error=cause, gate=gate, gate_source=source, reason=f"run error: {cause}"
    )
    try:
        output.write(verdict, p.run_dir)
    except OSError as exc:
        sys.stderr.write(f"warning: could not write verdict.json in {p.run_dir}: {exc.strerror or exc}\n")


def _save_traceback(p: Prepared, exc: BaseException) -> None:
    """Kept for a bug report, never printed at the user."""
    with contextlib.suppress(OSError):
        (p.run_dir / "logs").mkdir(exist_ok=True)
        (p.run_dir / "logs" / "controller-error.txt").write_text(
            "".join(traceback.format_exception(exc)), encoding="utf-8"
        )


def _execute_kubernetes(p: Prepared, log: EventLog, progress: ProgressDisplay, out: TextIO) -> int:
    from loadtest.backends.kubernetes.deploying import SLA_FOLDER_IN_CHART, KubeBackend, chart_values

    spec = p.spec
    sla_file = sla_text = None
    if p.sla_path is not None:
        sla, base = p.sla_path.resolve(), spec.locustfiles_dir.resolve()
        if sla.is_relative_to(base):  # shipped with the scenario's folder
            sla_file = sla.relative_to(base).as_posix()
        else:  # an SLA file of its own (--sla): shipped beside the locustfiles
            sla_file, sla_text = f"{SLA_FOLDER_IN_CHART}/{sla.name}", sla.read_text(encoding="utf-8")
    shape_env = shapes.shape_env(p.shape) if p.shape is not None else {}
    values = chart_values(spec, p.run_id, p.workers, sla_file, shape_env, sla_text=sla_text)
    (p.run_dir / "values.yaml").write_text(yaml.safe_dump(values, sort_keys=True), encoding="utf-8")
    progress.message(f"installing release {p.run_id} into namespace {spec.namespace} ...")
    outcome = KubeBackend(spec, p.run_id, p.run_dir, values, log, progress).run(
        None if p.shape is not None else spec.duration
    )
    progress.finish()
    verdict = f"gate Job {outcome.gate}" if outcome.gate else "no gate"
    out.write(f"\nrun {p.run_id} on Kubernetes: exit {outcome.exit_code} ({verdict})\nartifacts: {p.run_dir}/\n")
    return outcome.exit_code


def _start_demo_target(stack: contextlib.ExitStack, p: Prepared, log: EventLog, progress: ProgressDisplay) -> str:
    from loadtest.demo_target.server import DemoTarget

    progress.message("no host given: starting the bundled demo target on 127.0.0.1 ...")
    target = DemoTarget(host="127.0.0.1", port=0, workers=p.spec.demo_workers, data_dir=p.run_dir / "demo-target")
    stack.callback(target.stop)
    target.start(timeout_s=DEMO_START_TIMEOUT_S)
    log("demo_target_started", url=target.url)
    progress.message(f"demo target at {target.url}")
    return str(target.url)


def _report(p: Prepared, out: TextIO, interrupted: bool, master_exit: int | None) -> int:
    stats_path = p.run_dir / artifact.STATS_FILE
    if not stats_path.exists():
        cause = _why_no_stats(p, master_exit, interrupted) + _recover_stats(p)
        _write_broken_verdict(p, cause)
        if interrupted:
            out.write(f"interrupted before any stats were collected; artifacts in {p.run_dir}/\n")
            return ExitCode.INTERRUPTED
        raise RunError(cause, hint="the event log events.jsonl says how far the run got")
    stats = artifact.load(stats_path)
    out.write("\n" + summary.render(stats) + "\n")
    gate, source = _gate_kind(p)
    code = gate_after_run(p.run_dir, p.sla_path, out, gate=gate, source=source, scenario=p.spec.scenario_name)
    out.write(f"\nartifacts: {p.run_dir}/\n")
    return ExitCode.INTERRUPTED if interrupted else code


def _recover_stats(p: Prepared) -> str:
    """stats.json rebuilt from the window log the master wrote as it went (marked incomplete, for the
    report and the history; the verdict stays the broken run's): what to add to the cause."""
    from loadtest.core.fileio import write_json_atomic
    from loadtest.stats import windows

    log = p.run_dir / windows.WINDOWS_FILE
    try:
        rebuilt = windows.recover(p.run_dir / artifact.STATS_FILE, log) if log.is_file() else None
        if rebuilt is None:
            return ""
        write_json_atomic(p.run_dir / artifact.STATS_FILE, rebuilt, indent=False)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"; its window log could not be read back ({type(exc).__name__}: {exc})"
    seconds = len(rebuilt["windows"]["index"])
    return (
        f"; {seconds} s of its stats were recovered from {windows.WINDOWS_FILE} into {artifact.STATS_FILE} "
        "(incomplete: the last seconds and the workers' final reports are missing)"
    )


def _why_no_stats(p: Prepared, master_exit: int | None, interrupted: bool) -> str:
    """What the user needs to know when the master left no stats.json: how it ended, and the disk."""
    parts = [f"the master wrote no {artifact.STATS_FILE}"]
    if master_exit is not None and master_exit < 0:
        try:
            name = signal.Signals(-master_exit).name
        except ValueError:
            name = f"signal {-master_exit}"
        parts.append(f"it was killed by {name}")
    elif master_exit:
        parts.append(f"it exited with code {master_exit}")
    elif interrupted:
        parts.append("the run was interrupted before the master started")
    with contextlib.suppress(OSError):
        free = shutil.disk_usage(p.run_dir).free
        if free < 1024 * 1024:
            parts.append(f"no space left on device: {free} bytes free in {p.run_dir} (ENOSPC)")
    return "; ".join(parts) + f"; see {p.run_dir}/logs/master.log"
