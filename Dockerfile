# syntax=docker/dockerfile:1
# The loadtest runner image: Locust + the loadtest package (master, workers, gate Job, and the
# in-cluster controller of the chart's CronJob, which also needs helm and the chart).
#
#   docker build -t loadtest-runner:0.1.0 .     # the chart's default image (appVersion)
#
# Runs as the numeric non-root user 10001 (the chart's runAsUser) and works with a read-only
# root filesystem: nothing is written at run time outside /tmp and the artifacts volume
# (bytecode is compiled at build time; PYTHONDONTWRITEBYTECODE, HOME=/tmp).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG GO_IMAGE=golang:1.26-bookworm

# helm, built exactly as on developer machines and in CI (scripts/install-helm.sh, pinned).
FROM ${GO_IMAGE} AS helm
COPY scripts/install-helm.sh /src/scripts/install-helm.sh
RUN LOADTEST_CACHE=/opt/loadtest bash /src/scripts/install-helm.sh

# Python dependencies from the hash-pinned lock, then the package itself (not editable).
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements.lock ./
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --require-hashes -r requirements.lock
COPY pyproject.toml ./
COPY operator ./operator
# The lock also pins the test and lint tools; the runner needs none of them.
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation . \
 && /opt/venv/bin/pip uninstall -y hypothesis mypy numpy pytest pytest-timeout ruff \
      types-jsonschema types-psutil types-PyYAML \
 && /opt/venv/bin/python -m compileall -q /opt/venv/lib

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="loadtest-runner" \
      org.opencontainers.image.description="Locust with the loadtest plugin, SLA gate and controller"
RUN groupadd --system --gid 10001 loadtest \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
      --shell /usr/sbin/nologin loadtest
COPY --from=build /opt/venv /opt/venv
COPY --from=helm /opt/loadtest/bin/helm /usr/local/bin/helm
COPY charts/loadtest /app/charts/loadtest
COPY locustfiles /app/locustfiles
# A stable path for the load-shape module, for the chart's locustfiles.extraPaths.
RUN ln -s "$(/opt/venv/bin/python -c 'import loadtest.locust.shapes as s; print(s.SHAPEFILE)')" /app/shapefile.py \
 && /opt/venv/bin/python -m compileall -q /app/locustfiles
ENV PATH=/opt/venv/bin:$PATH \
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
