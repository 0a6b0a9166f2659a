# Two commands do all set-up: `make run` and `make test`. Both create .venv when it is
# missing or older than the requirements files or pyproject.toml, with every extra ([all]) installed.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Python >= 3.12: pyenv's (selected by .python-version), else python3.12, else python3.
PYTHON ?= $(shell (pyenv which python 2>/dev/null | grep -q . && pyenv which python) || command -v python3.12 || command -v python3)

.PHONY: run test check bench fuzz venv system-deps clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else "Python >= 3.12 is needed, found " + sys.version.split()[0] + " at " + sys.executable)'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	# the package itself, editable, so `python -m simulation`, `pilot-sandbox` and Dask workers started
	# from this venv import it from any folder (no download: its dependencies are installed above)
	$(PY) -m pip install --quiet --no-build-isolation --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP)

# Debian packages the tests drive: Chromium (browser tests) and bubblewrap (plugin sandbox).
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v bwrap >/dev/null || missing="$$missing bubblewrap"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

run: $(STAMP)
	$(PY) -m webapp

test: $(STAMP) system-deps
	$(PY) -m pytest

check: $(STAMP)
	$(VENV)/bin/ruff check simulation webapp tests benchmarks app.py
	$(VENV)/bin/ruff format --check simulation webapp tests benchmarks app.py
	$(VENV)/bin/mypy simulation webapp app.py
	$(VENV)/bin/lint-imports

# The long fuzz run: >= 10,000 mutated scenarios, districts, manifests, studies and uploads; prints inputs
# tried, project errors, accepted and raw exceptions, and fails on any raw exception. FUZZ_EXAMPLES=N to change.
FUZZ_EXAMPLES ?= 10200
fuzz: $(STAMP)
	$(PY) -W ignore tests/fuzz.py --examples $(FUZZ_EXAMPLES)

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
