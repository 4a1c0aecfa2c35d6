# csceval: two commands do all set-up on a fresh machine.
#   make run   create .venv, install the pinned set, run the whole pipeline on the built-in synthetic data
#   make test  create .venv, install the pinned set, run the test suite
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.csceval-installed
CORES  ?= all
PYTEST_ARGS ?=

.PHONY: install run test lint report timings bench lock clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.0.1"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/snakemake --lint

report: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --report results/report/report.html

# Wall time and peak memory per rule of the last run (from results/benchmarks/*.tsv), as a Markdown table.
timings: $(STAMP)
	$(BIN)/python -m csceval.run_summary results/benchmarks

# Benchmarks against peer packages, in their own environment (.venv-bench) so peers never enter the
# pipeline's environment. Writes benchmarks/results/benchmarks.md.
BENCH_VENV  ?= .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.csceval-bench-installed
BENCH_ARGS  ?=

$(BENCH_STAMP): requirements.lock pyproject.toml benchmarks/requirements-peers.txt
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade "pip==26.0.1"
	$(BENCH_VENV)/bin/python -m pip install --quiet -r requirements.lock
	$(BENCH_VENV)/bin/python -m pip install --quiet -r benchmarks/requirements-peers.txt
	$(BENCH_VENV)/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python benchmarks/run.py $(BENCH_ARGS)

# Re-pin after changing dependencies in pyproject.toml (needs network access to PyPI).
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade "pip==26.0.1"
	.venv-lock/bin/python -m pip install --quiet ".[test]"
	( echo "# Exact dependency set for csceval (Python 3.11). Regenerate with \`make lock\` after changing pyproject.toml."; \
	  .venv-lock/bin/python -m pip freeze --exclude csceval; \
	  echo "# build tools for the editable install of csceval itself (installed without build isolation)"; \
	  echo "setuptools==80.9.0"; echo "wheel==0.45.1" ) > requirements.lock
	rm -rf .venv-lock

clean:
	rm -rf results .snakemake
