# Two commands for a newcomer (see README): `make run` and `make test`.
# Everything else is installed by these targets themselves.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
KS     := $(VENV)/bin/kubesteward

.PHONY: run test unit mypy sandbox-down clean bench-diagnose bench-watch bench-policy bench-drift bytecode

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# Bytecode for the editable install, as pip writes it for a regular one:
# with PYTHONDONTWRITEBYTECODE set, every command would otherwise compile the
# changed modules again at each start. Up-to-date files are skipped.
bytecode: $(VENV)/.installed
	@$(PY) -m compileall -q src

## The main job: on your current cluster, or on the local sandbox when none is configured.
run: bytecode
	$(KS) diagnose -A --sandbox-if-unconfigured

## The whole test suite: type check, lint, the layer contract (pyproject.toml), unit tests, end-to-end tests on a real local control plane.
test: bytecode
	$(KS) sandbox build
	$(PY) -m mypy
	$(PY) -m ruff check src tests bench
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q -ra $(PYTEST_ARGS)

unit: $(VENV)/.installed
	$(PY) -m pytest -q tests/unit

## Benchmarks (not tests: they print figures), in the same environment `make run` installs.
bench-diagnose: bytecode
	$(PY) bench/diagnose.py $(BENCH_ARGS)

bench-watch: bytecode
	$(PY) bench/watch.py $(BENCH_ARGS)

bench-policy: bytecode
	$(PY) bench/policy.py $(BENCH_ARGS)

bench-drift: bytecode
	$(PY) bench/drift.py $(BENCH_ARGS)

sandbox-down: $(VENV)/.installed
	$(KS) sandbox down

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .import_linter_cache .grimp_cache
