"""SIGTERM/Ctrl-C never raise inside an import (a half-imported asyncio broke an interrupted run)."""

from __future__ import annotations

import importlib
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest.core import interrupts

SIG = signal.SIGUSR1  # stands for SIGTERM/SIGINT without touching pytest's own handlers


@pytest.fixture()
def handler() -> Iterator[None]:
    old = signal.getsignal(SIG)
    interrupts.interrupt_on(SIG)
    try:
        yield
    finally:
        signal.signal(SIG, old)


def _wait_for_interrupt(limit_s: float = 10.0) -> None:
    deadline = time.monotonic() + limit_s
    with pytest.raises(KeyboardInterrupt):
        while time.monotonic() < deadline:
            time.sleep(0.005)


def test_outside_an_import_the_signal_interrupts_at_once(handler: None) -> None:
    assert not interrupts.importing(sys._getframe())
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(SIG)


def test_inside_an_import_the_interrupt_waits_for_the_import_to_finish(
    handler: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A package whose first submodule is signalled half-way, like asyncio under SQLAlchemy was.
    pkg = tmp_path / "halfway_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "from .first import *\nfrom .second import *\n__all__ = first.__all__ + second.__all__\n"
    )
    (pkg / "first.py").write_text(
        "import signal, sys\nfrom loadtest.core import interrupts\n"
        f"inside = interrupts.importing(sys._getframe())\nsignal.raise_signal({int(SIG)})\n__all__ = ['inside']\n"
    )
    (pkg / "second.py").write_text("import time\ntime.sleep(0.1)\n__all__ = ['later']\nlater = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        try:
            module = importlib.import_module("halfway_pkg")
        except KeyboardInterrupt:
            pytest.fail("the signal interrupted the import half-way")
        assert module.inside is True and module.later == 1  # the whole package imported, signal and all
        assert sorted(module.__all__) == ["inside", "later"]
        _wait_for_interrupt()  # then the interrupt arrives, once the import is over
    finally:
        for name in ("halfway_pkg", "halfway_pkg.first", "halfway_pkg.second"):
            sys.modules.pop(name, None)


def test_a_held_section_runs_to_its_end_and_the_interrupt_follows(handler: None) -> None:
    steps = []
    with pytest.raises(KeyboardInterrupt), interrupts.held():
        signal.raise_signal(SIG)  # e.g. while a child process starts and before it is stored
        steps.append("owned")
        with interrupts.held():  # nested: the outermost section's end raises it
            steps.append("inner")
        steps.append("after inner")
    assert steps == ["owned", "inner", "after inner"]
    with interrupts.held():  # nothing pending any more
        steps.append("again")
    assert steps[-1] == "again"
