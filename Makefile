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

test: venv
	$(PY) -m pytest -q

demo: venv
	$(VENV)/bin/cellpkpd simulate pk_1cmt_oral --data fits/theophylline/theoph_nonmem.csv \
		--param ka=1.561 --param cl=0.04029 --param v=0.4556 --times 0:25:0.25 \
		--out demo_out/theophylline_simulation.csv --plot demo_out/theophylline_individuals.png
	@echo "Demo done: see demo_out/theophylline_individuals.png and demo_out/theophylline_simulation.csv"

bench: venv
	$(PY) benchmarks/simulate.py
	$(PY) benchmarks/simulate_msc.py
	$(PY) benchmarks/fit.py

lint: venv
	$(VENV)/bin/ruff check src tests benchmarks models

clean:
	rm -rf $(VENV) demo_out .pytest_cache
