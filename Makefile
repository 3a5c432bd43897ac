# Two commands do everything from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: venv test demo bench lint clean

venv: $(STAMP)

# Re-installs only when pyproject.toml changes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# Two workers, one file each at a time: JAX compilation, which dominates, is single-threaded.
test: venv
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=30

demo: venv
	$(VENV)/bin/cellpkpd fit fits/theophylline/fit.toml
	@echo "Demo done: open fits/theophylline/out/report.html"

bench: venv
	$(PY) benchmarks/simulate.py
	$(PY) benchmarks/simulate_msc.py
	$(PY) benchmarks/fit.py
	$(PY) benchmarks/fit_msc.py

lint: venv
	$(VENV)/bin/ruff check src tests benchmarks models

clean:
	rm -rf $(VENV) demo_out .pytest_cache fits/*/out
