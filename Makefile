# loadtest — `make help` lists the targets.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

PYTHON ?= python3
VENV ?= .venv
export LOADTEST_CACHE ?= $(HOME)/.cache/loadtest
export PATH := $(LOADTEST_CACHE)/bin:$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# make loadtest knobs (empty = the spec's default)
USERS ?=
DURATION ?=
SPAWN_RATE ?=
SCENARIO ?=
HOST ?=
WORKERS ?=
BACKEND ?=
KUBE_CONTEXT ?=
PROMETHEUS ?=
SPEC ?=
ARGS ?=
# pytest selection for make test (e.g. PYTEST_ARGS='-k gate')
PYTEST_ARGS ?=
# make cluster-down PURGE=1 also deletes the local cluster's certificates, etcd data and logs
PURGE ?=
# make cluster-up NODE=real also starts a real node (kubelet, containerd, CNI, kube-proxy, CoreDNS)
NODE ?=

STAMP := $(VENV)/.installed
TOOLS_STAMP := $(VENV)/.tools

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo
	@echo "  make loadtest USERS=1000 [DURATION=2m SPAWN_RATE=100 SCENARIO=api_browsing HOST=https://... WORKERS=4 PROMETHEUS=1]"

$(STAMP): requirements.lock pyproject.toml scripts/setup-venv.sh
	@bash scripts/setup-venv.sh "$(PYTHON)" "$(VENV)"
	@touch $@

.PHONY: setup
setup: $(STAMP) ## Create the project virtualenv from requirements.lock (idempotent)

.PHONY: tools
tools: $(STAMP) ## Install the external tools the tests need (Prometheus, helm, kubeconform, schemas)
	@for script in scripts/install-*.sh; do bash "$$script"; done
	@bash scripts/k8s-schemas.sh

.PHONY: test
test: tools cluster-tools image ## Run every test tier: unit, chart, e2e, image, cluster (what CI runs)
	$(VENV)/bin/pytest tests -q $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: $(STAMP) ## Unit tests only (no network, no processes)
	$(VENV)/bin/pytest tests/unit -q $(PYTEST_ARGS)

.PHONY: image
image: ## Build the runner and pause images as OCI archives in $(LOADTEST_CACHE)/images, no Docker (cached)
	@python3 scripts/build-image.py

.PHONY: cluster-tools
cluster-tools: ## Build the local control plane and node (Kubernetes, etcd, kwok, CoreDNS, kube-router) from the Go module proxy (cached)
	@bash scripts/build-control-plane.sh

.PHONY: cluster-up
cluster-up: cluster-tools $(if $(filter real,$(NODE)),image) ## Start the local control plane (NODE=real: and a real node); kubeconfig at $(LOADTEST_CACHE)/cluster/kubeconfig
	@case "$(NODE)" in ""|real) ;; *) echo "error: NODE='$(NODE)': the only value is real (empty: kwok's fake nodes only)" >&2; exit 2 ;; esac
	@bash scripts/cluster-up.sh
	@if [ "$(NODE)" = real ]; then bash scripts/node-up.sh; fi

.PHONY: node-up
node-up: cluster-tools image ## Add a real node (kubelet + containerd) to the running local cluster
	@bash scripts/node-up.sh

.PHONY: node-down
node-down: ## Take the real node down (cluster-down does too), leaving nothing on the host
	@bash scripts/node-down.sh

.PHONY: cluster-down
cluster-down: ## Stop the local control plane (PURGE=1 also deletes its certificates, etcd data and logs)
	@bash scripts/cluster-down.sh $(if $(filter 1 yes true,$(PURGE)),--purge)

.PHONY: test-cluster
test-cluster: $(STAMP) cluster-tools ## Cluster tier only (starts its own control plane on free ports)
	$(VENV)/bin/pytest tests/cluster -q $(PYTEST_ARGS)

.PHONY: lint
lint: $(STAMP) ## ruff, mypy --strict and the import layering (dependencies point one way, no circles)
	$(VENV)/bin/ruff check operator tests bench locustfiles
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q -p no:cacheprovider tests/unit/test_layering.py

.PHONY: loadtest
loadtest: $(STAMP) ## Run a load test (see the knobs above); exit code is the gate's
	$(VENV)/bin/loadtest run \
	  $(if $(SPEC),--spec $(SPEC)) \
	  $(if $(USERS),--users $(USERS)) \
	  $(if $(DURATION),--duration $(DURATION)) \
	  $(if $(SPAWN_RATE),--spawn-rate $(SPAWN_RATE)) \
	  $(if $(SCENARIO),--scenario $(SCENARIO)) \
	  $(if $(HOST),--host $(HOST)) \
	  $(if $(WORKERS),--workers $(WORKERS)) \
	  $(if $(BACKEND),--backend $(BACKEND)) \
	  $(if $(KUBE_CONTEXT),--kube-context $(KUBE_CONTEXT)) \
	  $(if $(filter 1 yes true,$(PROMETHEUS)),--prometheus) \
	  $(ARGS)

.PHONY: demo-target
demo-target: $(STAMP) ## Run the bundled demo target alone on 127.0.0.1:8080
	$(VENV)/bin/loadtest demo-target

.PHONY: bench
bench: tools ## Benchmarks: each prints figures and ratios against its own baseline
	@for bench in bench/bench_*.py; do echo "== $$bench"; $(VENV)/bin/python "$$bench"; done

.PHONY: lock
lock: ## Re-resolve requirements.in into requirements.lock (hashes pinned)
	@bash scripts/lock.sh

.PHONY: clean
clean: ## Remove the virtualenv and run artifacts (the tool cache stays)
	rm -rf $(VENV) results .pytest_cache .mypy_cache .ruff_cache
