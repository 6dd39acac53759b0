"""One definition of the runner image: the Dockerfile (for users with a registry) and `make image`
(scripts/build-image.py, no Docker) install the same packages, run the same install script on the
same sources, and give the image the same config. tests/image checks the image `make image` built."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "Dockerfile").read_text()


def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_image", REPO / "scripts" / "build-image.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _instructions(name: str, stage: str = DOCKERFILE) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", stage)
    return [m.group(1).strip() for m in re.finditer(rf"^{name}\s+(.*)$", joined, re.MULTILINE)]


def test_both_install_debians_packages_from_one_list() -> None:
    builder = _builder()
    assert builder.packages() == ["ca-certificates", "python3", "python3-venv"]
    assert "COPY scripts/image/packages.txt /tmp/packages.txt" in DOCKERFILE
    (install,) = [r for r in _instructions("RUN") if "apt-get install" in r]
    assert "/tmp/packages.txt" in install and "xargs apt-get install -y --no-install-recommends" in install
    assert re.search(r"^FROM \$\{DEBIAN_IMAGE\}$", DOCKERFILE, re.MULTILINE)
    assert "ARG DEBIAN_IMAGE=debian:bookworm-slim" in DOCKERFILE and builder.SUITE == "bookworm"


def test_both_run_the_same_install_script_on_the_same_sources() -> None:
    builder = _builder()
    assert any(r.endswith("bash /src/scripts/image/install.sh /src && rm -rf /src") for r in _instructions("RUN"))
    copied = []
    for args in _instructions("COPY", DOCKERFILE[DOCKERFILE.rfind("\nFROM ") :]):  # the image's stage
        *sources, dest = args.split()
        if sources[0].startswith("--from") or not dest.startswith("/src"):
            continue
        copied += sources
    assert sorted(copied) == sorted(builder.SOURCES)
    source = (REPO / "scripts" / "build-image.py").read_text()
    assert '"bash", "/src/scripts/image/install.sh", "/src"' in source


def test_the_local_image_takes_its_config_from_the_dockerfiles_last_stage() -> None:
    config = _builder().dockerfile_config(DOCKERFILE)
    assert config["User"] == _instructions("USER")[-1] == "10001:10001"
    assert config["WorkingDir"] == "/app"
    assert config["Cmd"] == ["python", "-m", "loadtest.locust.agent", "--help"]
    env = dict(e.split("=", 1) for e in config["Env"])
    assert env == {
        "PATH": "/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "HOME": "/tmp",
        "LOADTEST_HELM": "/usr/local/bin/helm", "LOADTEST_CHART": "/app/charts/loadtest",
    }  # fmt: skip
    assert config["ExposedPorts"] == {"5557/tcp": {}, "8089/tcp": {}, "9646/tcp": {}}
    assert config["Labels"]["org.opencontainers.image.title"] == "loadtest-runner"
