# The front door: `make help` lists every target.
SHELL := /bin/bash
VENV := .venv
PYTHON ?= python3
# Stage commands run whatever `python` comes first on PATH: make it the project's.
export PATH := $(abspath $(VENV))/bin:$(PATH)
STAMP := $(VENV)/.installed-$(shell cat requirements.lock requirements-ray.lock pyproject.toml | cksum | cut -d' ' -f1)

.DEFAULT_GOAL := help
.PHONY: help install test test-fast lint format params check-params study check-study check-cache compare plots prune reseed bench sweep clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(STAMP): requirements.lock requirements-ray.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || \
		{ echo "error: batchgraph needs Python 3.11 or newer; $(PYTHON) is $$($(PYTHON) -V 2>&1). Use make PYTHON=python3.11" >&2; exit 1; }
	@test ! -x $(VENV)/bin/python || $(VENV)/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "removing $(VENV): it was made with an older Python"; rm -rf $(VENV); }
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@# A failed install removes the half-built .venv, so the next `make` starts clean.
	{ $(VENV)/bin/python -m pip install -q --upgrade pip && \
	  $(VENV)/bin/python -m pip install -q -r requirements.lock && \
	  $(VENV)/bin/python -m pip install -q --no-deps -r requirements-ray.lock && \
	  $(VENV)/bin/python -m pip install -q --no-deps --no-build-isolation -e . ; } || \
		{ rm -rf $(VENV); echo "error: the install failed; $(VENV) was removed, fix the cause and run make again" >&2; exit 1; }
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP) ## Create .venv from requirements.lock and requirements-ray.lock (only when a lock changed)

# One pytest worker per core (pytest-xdist); a worker that runs out of tests takes another's.
PYTEST := $(VENV)/bin/python -m pytest -n auto --dist worksteal

test: install ## Run every test, the slow pipeline checks included
	$(PYTEST)

test-fast: install ## Run the tests but the slow ones
	$(PYTEST) -m "not slow"

lint: install ## ruff check and ruff format --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install ## Format the code with ruff
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

params: install ## Compose conf/ into params.yaml (dvc repro does not; dvc exp run does)
	$(VENV)/bin/python -m batchgraph.cli.params

check-params: install ## Fail if params.yaml is not the composition of conf/
	$(VENV)/bin/python -m batchgraph.cli.params --check

study: params ## Run the study (dvc repro) and print the summary table
	$(VENV)/bin/dvc repro
	@echo && cat reports/summary.md

check-study: install ## Fail unless dvc.lock and reports/ are what the code produces (after make study)
	$(VENV)/bin/dvc status -q || { $(VENV)/bin/dvc status; echo "the pipeline is stale: run make study" >&2; exit 1; }
	git diff --exit-code --stat dvc.lock reports/
	@test -z "$$(git status --porcelain)" || { git status --short; echo "make study left files git does not know" >&2; exit 1; }

# Headline metrics and the params that differ between experiments; code and data hashes left out,
# and failed experiments too (dvc exp show would list them with their baseline's numbers).
COMPARE := $(VENV)/bin/dvc exp show --hide-failed --only-changed --drop '^(src|data|runs|critical|reports)/|^Created$$'

compare: install ## The experiments side by side: changed params and the headline metrics
	$(COMPARE)

plots: install ## Write DVC's plots page (dvc_plots/index.html)
	$(VENV)/bin/dvc plots show

prune: install ## Remove run folders and lock entries of batch sizes and problems no longer in params.yaml
	$(VENV)/bin/python -m batchgraph.cli.prune

reseed: install ## The critical grid on another seed list of the same length against the committed B_crit
	$(VENV)/bin/python -m batchgraph.cli.reseed

check-cache: install ## Hash every object in .dvc/cache against its name; dvc status -c if a remote is set
	$(VENV)/bin/python -m batchgraph.cli.check_cache

# The committed figures are benchmarks/results/latest.json; `make bench BENCH_JSON=benchmarks/results/latest.json`
# replaces them (with PyTorch installed, or its figures are lost).
BENCH_JSON ?= benchmarks/results/local.json

bench: install ## Time the engine against hand-fused NumPy (and PyTorch if installed) -> BENCH_JSON
	$(VENV)/bin/python -m benchmarks.run --json $(BENCH_JSON)

# `make sweep SWEEP_GRID="-S 'train.epochs=10,40'" SWEEP_JOBS=1` runs another grid.
SWEEP_GRID ?= -S 'train.lr=0.003,0.01,0.03' -S 'study=seed_report,linear_scaling'
SWEEP_JOBS ?= 2

sweep: install ## Queue a DVC experiment grid (SWEEP_GRID), run it on SWEEP_JOBS workers, compare
	$(VENV)/bin/dvc exp run --queue $(SWEEP_GRID)
	$(VENV)/bin/dvc queue start -j $(SWEEP_JOBS)
	@while $(VENV)/bin/dvc queue status | grep -E ' (Queued|Running)' >/dev/null; do sleep 5; done
	$(VENV)/bin/dvc queue status
	$(COMPARE) --hide-workspace --sort-by train.lr
	@! $(VENV)/bin/dvc queue status | grep -E ' Failed' >/dev/null || \
		{ echo "some experiments failed: dvc queue logs <name>" >&2; exit 1; }

clean: ## Remove caches and DVC's plots page (keeps .venv and results)
	rm -rf .pytest_cache .ruff_cache .hypothesis dvc_plots
