"""Moving a finished run's artifacts out of the cluster through the gate pod's log.

The master writes stats.json, the HTML report and CSVs onto the artifacts
volume; the gate Job evaluates them and then prints the whole run directory as
a base64 tar.gz between two marker lines. The controller reads that log (it
holds `pods/log` anyway) and unpacks it into results/<run_id>/ — no exec, no
port-forward, no copy pod, nothing beyond the Role it already has.

`python -m loadtest.backends.kubernetes.bundle DIR` prints the bundle of DIR.
"""

from __future__ import annotations

import base64
import io
import sys
import tarfile
from pathlib import Path, PurePosixPath
from typing import TextIO

BEGIN = "----- loadtest artifacts: tar.gz, base64 -----"
END = "----- end of loadtest artifacts -----"
LINE = 76  # base64 line width: log lines stay short for any log pipeline
SKIP = ("prometheus",)  # a local Prometheus TSDB never travels this way


def emit(directory: Path, stream: TextIO) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(directory.rglob("*")):
            rel = path.relative_to(directory)
            if path.is_file() and rel.parts[0] not in SKIP:
                tar.add(path, arcname=rel.as_posix())
    text = base64.b64encode(buffer.getvalue()).decode("ascii")
    stream.write(BEGIN + "\n")
    for i in range(0, len(text), LINE):
        stream.write(text[i : i + LINE] + "\n")
    stream.write(END + "\n")


def extract(log_text: str, dest: Path) -> list[str]:
    """Unpack the last bundle found in `log_text` into `dest`; the names written (none: no bundle)."""
    start = log_text.rfind(BEGIN)
    end = log_text.find(END, start)
    if start < 0 or end < 0:
        return []
    payload = "".join(log_text[start + len(BEGIN) : end].split())
    data = base64.b64decode(payload, validate=True)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = [m for m in tar.getmembers() if m.isfile()]  # regular files only: no links, no devices
        # Written by hand, not extractall(filter=...): the runner image's Python (Debian's 3.11.2)
        # predates tarfile's filters, and the CronJob's controller unpacks bundles there. Every name
        # is checked before anything is written.
        targets = [(member, (root / member.name).resolve()) for member in members]
        for member, target in targets:
            if PurePosixPath(member.name).is_absolute() or not target.is_relative_to(root):
                raise BundleError(f"the artifacts bundle names {member.name!r}, outside {dest}: refused")
        for member, target in targets:
            source = tar.extractfile(member)
            assert source is not None  # a regular file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read())
    return [m.name for m in members]


class BundleError(ValueError):
    """An artifacts bundle that would write outside its destination."""


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        sys.stderr.write("usage: python -m loadtest.backends.kubernetes.bundle DIRECTORY\n")
        return 2
    emit(Path(argv[0]), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
