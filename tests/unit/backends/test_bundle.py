"""Artifacts travel out of the cluster in the gate pod's log, byte for byte."""

from __future__ import annotations

import base64
import io
import tarfile
from pathlib import Path

import pytest

from loadtest.backends.kubernetes.bundle import BEGIN, END, BundleError, emit, extract


def test_a_run_directory_round_trips_through_a_log(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "gate").mkdir(parents=True)
    (run / "stats.json").write_text('{"schema": "loadtest.stats/v1"}')
    (run / "gate" / "junit.xml").write_text("<testsuite/>")
    (run / "locust_report.html").write_bytes(bytes(range(256)) * 50)
    (run / "prometheus").mkdir()
    (run / "prometheus" / "wal").write_text("not shipped")
    log = io.StringIO()
    log.write("SLA gate ... verdict: PASS\n")
    emit(run, log)
    text = log.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80

    names = extract("kubelet noise\n" + text + "trailing line\n", tmp_path / "out")
    assert sorted(names) == ["gate/junit.xml", "locust_report.html", "stats.json"]
    assert (tmp_path / "out" / "locust_report.html").read_bytes() == (run / "locust_report.html").read_bytes()
    assert (tmp_path / "out" / "gate" / "junit.xml").read_text() == "<testsuite/>"


def test_a_log_without_a_bundle_extracts_nothing(tmp_path: Path) -> None:
    assert extract("(no container ran)\n", tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_a_bundle_cannot_write_outside_the_destination(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    log = f"{BEGIN}\n{base64.b64encode(buffer.getvalue()).decode()}\n{END}\n"
    with pytest.raises(BundleError, match="outside"):
        extract(log, tmp_path / "dest")
    assert not (tmp_path / "escaped.txt").exists()


def test_an_absolute_name_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in ("stats.json", str(tmp_path / "absolute.txt")):
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"{}"))
    log = f"{BEGIN}\n{base64.b64encode(buffer.getvalue()).decode()}\n{END}\n"
    with pytest.raises(BundleError):
        extract(log, tmp_path / "dest")
    assert not (tmp_path / "absolute.txt").exists() and not (tmp_path / "dest" / "stats.json").exists()
