# Two commands: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
JOBS ?= 2

.PHONY: setup test demo release gradescope clean-venv

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	COURSE_OFFLINE=1 MPLBACKEND=Agg OMP_NUM_THREADS=1 $(PY) -m pytest -n $(JOBS) tests

demo: $(STAMP)
	MPLBACKEND=Agg $(PY) -m vaegan demo

gradescope: $(STAMP)
	$(PY) -m autograder.gradescope --out dist

release: $(STAMP)
	$(PY) -m autograder release

clean-venv:
	rm -rf $(VENV)
