#!/usr/bin/env python3
"""`make image`: the runner image and the pause image as OCI archives, without Docker or a registry.

The runner image is what the Dockerfile builds, from the same definition: a Debian bookworm root
filesystem with scripts/image/packages.txt (debootstrap --variant=minbase, Debian's python3.11),
then scripts/image/install.sh run in a chroot of it (the locked dependencies, the package, user
10001, /app), helm from the tool cache (scripts/install-helm.sh, pinned), and the image config
(ENV, USER, WORKDIR, EXPOSE, LABEL, CMD) read from the Dockerfile's last stage. One layer.

The pause image (the pod sandbox's process) is a static Go program (scripts/image/pause.go)
built with the machine's Go: it sleeps until SIGINT or SIGTERM and reaps nothing else.

Cached under $LOADTEST_CACHE/images, keyed by the sha256 of every input: a warm `make image` is a
no-op. The debootstrapped base is cached by its package list; pip's downloads in
$LOADTEST_CACHE/pip. Prints where the archives are, their sizes and the time taken.

Usage: python3 scripts/build-image.py [--out-dir DIR]   (as root: debootstrap and chroot)
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("LOADTEST_CACHE", Path.home() / ".cache" / "loadtest"))
MIRROR = os.environ.get("LOADTEST_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SUITE = "bookworm"
INPUTS = ["requirements.lock", "pyproject.toml", "Dockerfile", "operator", "charts/loadtest", "locustfiles",
          "scripts/image", "scripts/build-image.py"]  # fmt: skip
# What the Dockerfile COPYs to /src for scripts/image/install.sh (tests/unit/test_image_definition.py)
SOURCES = ("requirements.lock", "pyproject.toml", "operator", "charts/loadtest", "locustfiles", "scripts/image")
# pip's own settings from this machine's environment that also hold in the chroot
PASSED_THROUGH = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
                  "http_proxy", "https_proxy", "no_proxy")  # fmt: skip
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"
EPOCH = 0  # file times in the layer: the same inputs give the same archive
VERSION = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.MULTILINE)
TAG = VERSION.group(1) if VERSION else "dev"
RUNNER = f"loadtest-runner:{TAG}"
PAUSE = "loadtest-pause:3.10"


def say(text: str) -> None:
    print(f"build-image: {text}", flush=True)


def tree_digest(paths: list[str], extra: bytes = b"") -> str:
    digest = hashlib.sha256(extra)
    for rel in paths:
        root = REPO / rel
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            if "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def packages() -> list[str]:
    lines = (REPO / "scripts/image/packages.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


# -- the Dockerfile's last stage: the image config -------------------------------------------------


def dockerfile_config(text: str) -> dict[str, object]:
    """ENV, USER, WORKDIR, EXPOSE, LABEL and CMD of the last stage, as an OCI image config."""
    joined = re.sub(r"\\\n\s*", " ", text)
    stage = joined[joined.rfind("\nFROM ") :]
    env: dict[str, str] = {}
    labels: dict[str, str] = {}
    config: dict[str, object] = {}
    for line in stage.splitlines():
        word, _, rest = line.strip().partition(" ")
        pairs = re.findall(r'([A-Za-z_.]+)=("(?:[^"\\]|\\.)*"|\S+)', rest)
        if word == "ENV":
            env.update({k: v.strip('"') for k, v in pairs})
        elif word == "LABEL":
            labels.update({k: v.strip('"') for k, v in pairs})
        elif word == "USER":
            config["User"] = rest.strip()
        elif word == "WORKDIR":
            config["WorkingDir"] = rest.strip()
        elif word == "EXPOSE":
            config["ExposedPorts"] = {f"{port}/tcp": {} for port in rest.split()}
        elif word == "CMD":
            config["Cmd"] = json.loads(rest)
    config["Env"] = [f"{k}={v}" for k, v in env.items()]
    config["Labels"] = labels
    return config


# -- OCI archives ----------------------------------------------------------------------------------


def _blob(out: tarfile.TarFile, data: bytes) -> tuple[str, int]:
    digest = hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo(f"blobs/sha256/{digest}")
    info.size, info.mtime = len(data), EPOCH
    out.addfile(info, io.BytesIO(data))
    return f"sha256:{digest}", len(data)


def write_oci(path: Path, layer_tar: Path, config: dict[str, object], ref: str) -> None:
    """An OCI image layout archive with one gzip layer: `ctr images import` and `docker load`."""
    raw = layer_tar.read_bytes()
    diff_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    layer = gzip.compress(raw, compresslevel=1, mtime=EPOCH)
    image_config = {
        "architecture": "amd64", "os": "linux", "config": config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "scripts/build-image.py", "comment": ref}],
    }  # fmt: skip
    tmp = path.with_suffix(".tmp")
    with tarfile.open(tmp, "w") as out:
        layer_digest, layer_size = _blob(out, layer)
        config_digest, config_size = _blob(out, json.dumps(image_config, sort_keys=True).encode())
        manifest = {
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                       "size": config_size},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest,
                        "size": layer_size}],
        }  # fmt: skip
        manifest_digest, manifest_size = _blob(out, json.dumps(manifest, sort_keys=True).encode())
        names = {"io.containerd.image.name": f"docker.io/library/{ref}", "org.opencontainers.image.ref.name": ref}
        index = {
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
                           "size": manifest_size, "annotations": names}],
        }  # fmt: skip
        layout = b'{"imageLayoutVersion":"1.0.0"}'
        for name, data in (("oci-layout", layout), ("index.json", json.dumps(index).encode())):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), EPOCH
            out.addfile(info, io.BytesIO(data))
    os.replace(tmp, path)


def layer_of(root: Path, dest: Path) -> None:
    """The root filesystem as one layer tar, owners and modes kept, times fixed."""

    def fixed(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mtime = EPOCH
        return info

    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as out:
        for entry in sorted(root.iterdir()):
            out.add(entry, arcname=entry.name, filter=fixed)


# -- the runner image ------------------------------------------------------------------------------


@contextlib.contextmanager
def mounted(root: Path) -> Iterator[None]:
    """/proc, /dev and the pip cache inside the chroot while install.sh runs; always unmounted."""
    pip_cache = CACHE / "pip"
    pip_cache.mkdir(parents=True, exist_ok=True)
    mounts = [(["-t", "proc", "proc"], root / "proc"), (["--bind", "/dev"], root / "dev"),
              (["--bind", str(pip_cache)], root / "var/cache/pip")]  # fmt: skip
    done: list[Path] = []
    try:
        for args, target in mounts:
            target.mkdir(parents=True, exist_ok=True)
            subprocess.run(["mount", *args, str(target)], check=True)
            done.append(target)
        yield
    finally:
        for target in reversed(done):
            subprocess.run(["umount", "--lazy", str(target)], check=False)


def clean_stale() -> None:
    """What a killed build left: mounts inside its chroot, then the chroot itself."""
    work = CACHE / "images"
    stale = sorted(work.glob("build-image-*"))
    if not stale:
        return
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for point in sorted((m for m in mounts if any(m.startswith(str(d) + "/") for d in stale)), reverse=True):
        subprocess.run(["umount", "--lazy", point], check=False)
    for directory in stale:
        shutil.rmtree(directory, ignore_errors=True)


def base_rootfs() -> Path:
    """Debian bookworm minbase with the image's packages, cached by the package list."""
    pkgs = packages()
    key = hashlib.sha256(("\n".join([SUITE, MIRROR, *pkgs])).encode()).hexdigest()[:16]
    base = CACHE / "images" / f"base-{SUITE}-{key}"
    if (base / ".complete").exists():
        return base
    if shutil.which("debootstrap") is None:
        say("installing debootstrap (Debian package)")
        install = f'. "{REPO}/scripts/apt-lib.sh" && apt_install_no_services build-image debootstrap'
        subprocess.run(["bash", "-c", install], check=True)
    shutil.rmtree(base, ignore_errors=True)
    say(f"debootstrap {SUITE} (minbase + {', '.join(pkgs)}) from {MIRROR} ...")
    started = time.monotonic()
    subprocess.run(["debootstrap", "--variant=minbase", f"--include={','.join(pkgs)}", SUITE, str(base), MIRROR],
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for path in (base / junk).glob("*"):
            if path.is_file():
                path.unlink()
    (base / ".complete").touch()
    say(f"base root filesystem ready in {time.monotonic() - started:.0f} s")
    return base


def build_runner(out: Path, helm: Path) -> None:
    base = base_rootfs()
    with tempfile.TemporaryDirectory(prefix="build-image-", dir=CACHE / "images") as tmp:
        root = Path(tmp) / "rootfs"
        subprocess.run(["cp", "-a", str(base), str(root)], check=True)
        (root / ".complete").unlink()
        src = root / "src"
        for rel in SOURCES:
            target = src / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if (REPO / rel).is_dir():
                shutil.copytree(REPO / rel, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
            else:
                shutil.copy2(REPO / rel, target)
        shutil.copy2("/etc/resolv.conf", root / "etc/resolv.conf")  # pip reaches PyPI from the chroot
        # pip in the chroot trusts what this machine trusts (a proxy's CA, say), for the build only
        host_ca = Path(os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE") or HOST_CA)
        shutil.copy2(host_ca, src / "host-ca.crt")
        say("scripts/image/install.sh in the chroot (locked dependencies, the package, user 10001, /app) ...")
        started = time.monotonic()
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "PIP_CACHE_DIR": "/var/cache/pip",
               "LANG": "C.UTF-8", "PIP_CERT": "/src/host-ca.crt", "PIP_DEFAULT_TIMEOUT": "180"}  # fmt: skip
        env.update({k: v for k, v in os.environ.items() if k in PASSED_THROUGH})
        with mounted(root):
            subprocess.run(["chroot", str(root), "bash", "/src/scripts/image/install.sh", "/src"], check=True, env=env)
        say(f"installed in {time.monotonic() - started:.0f} s")
        shutil.rmtree(src)
        (root / "etc/resolv.conf").write_text("")  # the runtime provides its own
        shutil.rmtree(root / "var/cache/pip", ignore_errors=True)
        shutil.copy2(helm, root / "usr/local/bin/helm")
        layer = Path(tmp) / "layer.tar"
        layer_of(root, layer)
        write_oci(out, layer, dockerfile_config((REPO / "Dockerfile").read_text()), RUNNER)


def build_pause(out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="build-pause-") as tmp:
        binary = Path(tmp) / "pause"
        env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-trimpath", "GO111MODULE": "off"}
        subprocess.run(["go", "build", "-ldflags=-s -w", "-o", str(binary), str(REPO / "scripts/image/pause.go")],
                       check=True, env=env)  # fmt: skip
        root = Path(tmp) / "rootfs"
        (root / "bin").mkdir(parents=True)
        shutil.copy2(binary, root / "bin/pause")
        layer = Path(tmp) / "layer.tar"
        layer_of(root, layer)
        write_oci(out, layer, {"Entrypoint": ["/bin/pause"], "User": "65535:65535", "Env": [], "Labels": {}}, PAUSE)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", type=Path, default=CACHE / "images")
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (CACHE / "images").mkdir(parents=True, exist_ok=True)
    clean_stale()
    helm = CACHE / "bin" / "helm"
    if not helm.is_file():
        subprocess.run(["bash", str(REPO / "scripts/install-helm.sh")], check=True)
    started = time.monotonic()
    built = []
    for name, ref, inputs, build in (
        ("runner", RUNNER, INPUTS, lambda out: build_runner(out, helm)),
        ("pause", PAUSE, ["scripts/image/pause.go", "scripts/build-image.py"], build_pause),
    ):
        key = tree_digest(inputs, helm.read_bytes() if name == "runner" else b"")[:16]
        out = args.out_dir / f"{name}-{key}.oci.tar"
        link = args.out_dir / f"{name}.oci.tar"
        if out.is_file():
            say(f"{ref}: up to date ({out}, {out.stat().st_size / 2**20:.0f} MiB)")
        else:
            one = time.monotonic()
            build(out)
            built.append(name)
            say(f"{ref}: built in {time.monotonic() - one:.0f} s: {out} ({out.stat().st_size / 2**20:.0f} MiB)")
            for old in args.out_dir.glob(f"{name}-*.oci.tar"):
                if old != out:
                    old.unlink()
        tmp_link = link.with_suffix(".link")
        tmp_link.unlink(missing_ok=True)
        tmp_link.symlink_to(out.name)
        os.replace(tmp_link, link)
    say(f"done in {time.monotonic() - started:.1f} s" + (f" (built: {', '.join(built)})" if built else " (cached)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
