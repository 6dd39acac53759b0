"""`loadtest` command line. `main(argv) -> int` is the only exit path: user errors print
`error: …` and `hint: …` on stderr with a documented exit code; tracebacks are for bugs."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Any

from loadtest import __version__
from loadtest.core.errors import LoadtestError
from loadtest.core.exitcodes import ExitCode
from loadtest.core.interrupts import interrupt_on
from loadtest.core.spec import LIST_FIELDS, RunSpec, env_var, flag, resolve

_HELP = {
    "scenario": "scenario folder under locustfiles/ (default api_browsing)",
    "locustfiles": "comma-separated locustfile paths instead of a scenario",
    "host": "target base URL; without it the bundled demo target is started",
    "duration": "run time, e.g. 90s, 2m, 1h30m (default 1m)",
    "workers": "worker processes (default: users / users-per-worker, at least 1)",
    "allowed_hosts": "comma-separated allowlist of target hosts (globs allowed)",
    "sla": "SLA file (default: the scenario's sla.yaml)",
    "shape_options": "shape options as YAML/JSON, e.g. '{users: 100, duration_s: 60, ramp_s: 20}'",
    "helm_values": "kubernetes: extra chart values as YAML/JSON, merged last, e.g. '{image: {tag: v2}}'",
}


def _add_run_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--spec", type=Path, help=f"run spec YAML file [{env_var('spec')}]")
    for name, field in RunSpec.model_fields.items():
        help_text = _HELP.get(name) or field.description or name.replace("_", " ")
        help_text += f" [{env_var(name)}]"
        if name in ("prometheus", "no_gate"):
            parser.add_argument(flag(name), action="store_const", const=True, default=None, help=help_text)
        elif name == "wait_for_workers":
            parser.add_argument(flag(name), type=_boolean, default=None, help=help_text + " (true|false)")
        elif name in LIST_FIELDS:
            parser.add_argument(
                flag(name),
                type=lambda s: [x.strip() for x in s.split(",") if x.strip()],
                default=None,
                help=help_text,
            )
        elif name in ("shape_options", "helm_values"):
            parser.add_argument(flag(name), type=_yaml_arg, default=None, help=help_text)
        else:
            parser.add_argument(flag(name), default=None, help=help_text)


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not a boolean; use true or false")


def _yaml_arg(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not valid YAML/JSON: {exc}") from exc


def _run(args: argparse.Namespace) -> int:
    # SIGTERM (CI cancelling a job, `kill`) stops the run exactly like Ctrl-C at any point: cleanly,
    # artifacts kept, exit 130; during the checks the locustfile probe child is killed on the way out.
    # Neither interrupts an import half-way (loadtest.core.interrupts says why).
    interrupt_on(signal.SIGTERM, signal.SIGINT)
    from loadtest.run import controller

    flags = {name: getattr(args, name) for name in RunSpec.model_fields}
    spec = resolve(spec_file=args.spec, flags=flags)
    prepared = controller.prepare(spec)
    return controller.execute(prepared)


# Every other command, by name, and the module that registers it: imported only when it is the
# command given (or for the help that lists them all), so `loadtest run` does not pay for the
# demo target's web stack, the report's templates or the gate's evaluation before it starts.
COMMANDS = {
    "gate": "loadtest.gate.command",
    "report": "loadtest.report.command",
    "history": "loadtest.history.command",
    "compare": "loadtest.history.compare_command",
    "demo-target": "loadtest.demo_target.cli",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line; with `command` (the first word given), only what that command needs."""
    parser = argparse.ArgumentParser(
        prog="loadtest",
        description="Distributed Locust runs from one spec, with live metrics and an SLA gate.",
        epilog="exit codes: 0 pass, 1 gate failed, 2 usage/config error, 3 inconclusive, "
        "4 run error, 130 interrupted",
    )
    parser.add_argument("--version", action="version", version=f"loadtest {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser("run", help="run a load test (flags override LOADTEST_* and the spec file)")
    _add_run_flags(run)
    run.set_defaults(func=_run)
    wanted = [COMMANDS[command]] if command in COMMANDS else [] if command == "run" else COMMANDS.values()
    for module in wanted:
        __import__(module, fromlist=["register"]).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv[0] if argv else None)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help is 0, a usage error 2
        return int(exc.code or 0)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return ExitCode.USAGE
    try:
        return int(args.func(args))
    except LoadtestError as exc:
        _print_error(exc)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return ExitCode.INTERRUPTED
    except Exception as exc:  # a bug: say so in one line; the traceback only on request
        if os.environ.get("LOADTEST_DEBUG"):
            raise
        _print_error(
            LoadtestError(
                f"unexpected {type(exc).__name__}: {exc}",
                hint="this is a bug in loadtest; LOADTEST_DEBUG=1 shows the traceback (please include it in a report)",
            )
        )
        return ExitCode.RUN_ERROR


def _print_error(exc: LoadtestError) -> None:
    color = sys.stderr.isatty() and not os.environ.get("NO_COLOR")
    red, dim, reset = ("\033[31m", "\033[2m", "\033[0m") if color else ("", "", "")
    sys.stderr.write(f"{red}error:{reset} {exc.message}\n")
    if exc.hint:
        sys.stderr.write(f"{dim}hint:{reset} {exc.hint}\n")
