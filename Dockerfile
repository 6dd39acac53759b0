# syntax=docker/dockerfile:1
# The loadtest runner image: Locust + the loadtest package (master, workers, gate Job, and the
# in-cluster controller of the chart's CronJob, which also needs helm and the chart).
#
#   docker build -t loadtest-runner:0.1.0 .     # the chart's default image (appVersion)
#   make image                                  # the same image without Docker or a registry
#
# One definition for both builds: Debian bookworm with the packages of scripts/image/packages.txt
# (its python3.11), then scripts/image/install.sh (the locked dependencies, the package, user
# 10001, /app); `make image` (scripts/build-image.py) runs the same two steps in a chroot of a
# debootstrapped bookworm and takes ENV, USER, WORKDIR, EXPOSE, LABEL and CMD from this file's
# last stage. tests/unit/test_image_definition.py holds the two together.
#
# Runs as the numeric non-root user 10001 (the chart's runAsUser) and works with a read-only
# root filesystem: nothing is written at run time outside /tmp and the artifacts volume
# (bytecode is compiled at build time; PYTHONDONTWRITEBYTECODE, HOME=/tmp).

ARG DEBIAN_IMAGE=debian:bookworm-slim
ARG GO_IMAGE=golang:1.26-bookworm

# helm, built exactly as on developer machines and in CI (scripts/install-helm.sh, pinned).
FROM ${GO_IMAGE} AS helm
COPY scripts/install-helm.sh /src/scripts/install-helm.sh
RUN LOADTEST_CACHE=/opt/loadtest bash /src/scripts/install-helm.sh

FROM ${DEBIAN_IMAGE}
COPY scripts/image/packages.txt /tmp/packages.txt
RUN apt-get update \
 && grep -v '^#' /tmp/packages.txt | xargs apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/packages.txt
COPY requirements.lock pyproject.toml /src/
COPY operator /src/operator
COPY charts/loadtest /src/charts/loadtest
COPY locustfiles /src/locustfiles
COPY scripts/image /src/scripts/image
RUN PIP_NO_CACHE_DIR=1 bash /src/scripts/image/install.sh /src && rm -rf /src
COPY --from=helm /opt/loadtest/bin/helm /usr/local/bin/helm
LABEL org.opencontainers.image.title="loadtest-runner" \
      org.opencontainers.image.description="Locust with the loadtest plugin, SLA gate and controller"
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    LOADTEST_HELM=/usr/local/bin/helm \
    LOADTEST_CHART=/app/charts/loadtest
WORKDIR /app
USER 10001:10001
# 5557 workers -> master, 8089 web UI/API, 9646 /metrics.
EXPOSE 5557 8089 9646
CMD ["python", "-m", "loadtest.locust.agent", "--help"]
