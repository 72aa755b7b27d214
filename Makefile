# logpipe: `make run` starts everything, `make test` passes every test, on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
SAM_VENV := .venv-sam
BIN := $(VENV)/bin
PGVER = $(shell ls /etc/postgresql 2>/dev/null | sort -n | tail -1)

export SAM_CLI_TELEMETRY := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup run test test-fast test-faults lint format template services observability bench fuzz clean web web-lint web-test chromium bench-ui

setup: $(VENV)/.installed

# The editable install also compiles the parsing lane (layers/logpipe/ingest/_lane.c) in
# place, where the layer build picks it up; without gcc the Python path does its work.
$(VENV)/.installed: requirements.txt requirements-dev.txt layers/requirements.txt pyproject.toml setup.py \
		layers/logpipe/ingest/_lane.c layers/logpipe/ingest/lane_spec.py
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is needed (Runtime: python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps -e .
	@$(BIN)/python -c "import logpipe.ingest._lane" 2>/dev/null || \
	  echo "note: the compiled lane did not build (is gcc installed?); the Python path does its work"
	touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q -r requirements-sam.txt
	touch $@

run: setup web
	$(BIN)/logpipe run $(ARGS)

# The web app (frontend/): npm ci when the lock changed, a Vite build when a source did.
# The runner serves frontend/dist at / on the API's port.
FRONTEND_SRC := $(shell find frontend/src frontend/public -type f 2>/dev/null) \
	frontend/index.html frontend/vite.config.ts frontend/tsconfig.json
frontend/node_modules/.installed: frontend/package.json frontend/package-lock.json
	@command -v npm >/dev/null || { echo "Node.js 20 and npm are needed for the web app"; exit 1; }
	cd frontend && npm ci --no-audit --no-fund
	touch $@

frontend/dist/index.html: frontend/node_modules/.installed $(FRONTEND_SRC)
	cd frontend && npm run build

web: frontend/dist/index.html

web-lint: frontend/node_modules/.installed
	cd frontend && npx tsc --noEmit && npx eslint --max-warnings 0 . && npx prettier --check .

web-test: frontend/node_modules/.installed
	cd frontend && npx vitest run

# Headless Chromium for the browser tests: Debian's package, installed when missing
# (never a browser download of npm's); playwright-core drives /usr/bin/chromium.
chromium:
	@command -v chromium >/dev/null || { echo "installing chromium"; apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

# PostgreSQL and RabbitMQ must answer on 127.0.0.1 for the tests; start them if they do not.
services:
	@pg_isready -q -h 127.0.0.1 -p 5432 || { echo "starting PostgreSQL"; \
	  pg_ctlcluster --skip-systemctl-redirect $(PGVER) main start; \
	  for i in $$(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; }
	@pg_isready -h 127.0.0.1 -p 5432
	@(exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null || { echo "starting RabbitMQ"; \
	  rabbitmq-server -detached; \
	  for i in $$(seq 60); do (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && break; sleep 1; done; }
	@(exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && echo "127.0.0.1:5672 - RabbitMQ accepting connections"

# Prometheus, the Pushgateway and promtool (the tests start their own, on free ports),
# and a Compose client to check infra/docker-compose.yml: Debian's packages, installed
# when missing. Debian's policy-rc.d, where there is one, keeps apt from starting them
# as services; the tests never use a service of the system's.
OBSERVABILITY_BINS := prometheus prometheus-pushgateway promtool docker-compose

observability:
	@missing=""; for b in $(OBSERVABILITY_BINS); do command -v $$b >/dev/null || missing="$$missing $$b"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
	    prometheus prometheus-pushgateway docker-compose >/dev/null; fi
	promtool check config infra/prometheus/prometheus.yml
	promtool check rules infra/prometheus/rules.yml infra/prometheus/alerts.yml
	promtool test rules infra/prometheus/tests/alerts_test.yml

lint: setup web-lint
	$(BIN)/ruff check layers local functions tests bench
	$(BIN)/ruff format --check layers local functions tests bench
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format layers local functions tests bench
	$(BIN)/ruff check --fix layers local functions tests bench

# cfn-lint transforms SAM itself; `sam build` needs no container for python3.11.
template: $(SAM_VENV)/.installed
	$(SAM_VENV)/bin/cfn-lint template.yaml
	$(SAM_VENV)/bin/sam build --template template.yaml --build-dir .aws-sam/build
	@# the built layer on its own: the worker imports, and the compiled lane loads
	$(PYTHON) -I -c \
	  "import sys; sys.path.insert(0, '.aws-sam/build/SharedLayer/python'); \
	   import logpipe.ingest, logpipe.ingest._lane; print('layer ok:', logpipe.ingest._lane.__file__)"

# pytest's exit code 5 (no test collected) is not a failure.
test: setup services observability chromium lint template web web-test
	$(BIN)/pytest -q -m "not faults" --durations=15 $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

# The fault and load suite: private PostgreSQL and RabbitMQ restarted, frozen and cut under
# worker processes, workers killed, the S3 endpoint taken away, at seeded random points
# (LOGPIPE_FAULT_SEED repeats a run, LOGPIPE_FAULT_ROUNDS sets how often each fault is
# injected), then many uploads at once; a table of faults and rows lost ends the run.
test-faults: setup services
	$(BIN)/pytest -q -m faults $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/pytest -q -m "not services" $(PYTEST_ARGS)

# The lane's fuzzers at length: hypothesis on FUZZ_SCALE times the generated files of
# `make test`, fresh ones each run, and atheris on arbitrary bytes under AddressSanitizer
# for FUZZ_SECONDS, keeping its corpus and what it finds in .fuzz/.
# The HTTP API too: schemathesis on FUZZ_SCALE times the examples per route of `make test`.
FUZZ_SCALE ?= 50
FUZZ_SECONDS ?= 600
fuzz: setup
	LOGPIPE_FUZZ_SCALE=$(FUZZ_SCALE) LOGPIPE_FUZZ_SECONDS=$(FUZZ_SECONDS) LOGPIPE_FUZZ_DIR=$(CURDIR)/.fuzz \
	  $(BIN)/pytest -q -s tests/test_lane_fuzz.py tests/test_lane_spec.py tests/test_openapi.py

bench: setup services
	$(BIN)/python bench/ingest_bench.py $(ARGS)
	$(BIN)/python bench/ingest_bench.py --access-log --gzip-mb 0 $(ARGS)
	$(BIN)/python bench/memory_bench.py
	$(BIN)/python bench/parse_bench.py
	$(BIN)/python bench/layout_bench.py
	$(BIN)/python bench/patterns_bench.py
	$(BIN)/python bench/stream_bench.py
	$(BIN)/python bench/query_bench.py
	$(BIN)/python bench/webhook_bench.py
	$(BIN)/python bench/small_files_bench.py
	$(BIN)/python bench/api_load_bench.py
	$(MAKE) bench-ui

# The web app's figures: initial JS (gzip), first render, the live tail's sustained rate,
# a large upload through the page (BENCH_UPLOAD_MB, 1024 by default).
BENCH_UPLOAD_MB ?= 1024
bench-ui: setup web chromium
	LOGPIPE_BENCH_UPLOAD_MB=$(BENCH_UPLOAD_MB) $(BIN)/python bench/ui_bench.py
clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis build layers/logpipe/ingest/_lane.*.so
