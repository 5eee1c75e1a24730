# Two commands: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
JOBS ?= 2

.PHONY: setup test demo bench release gradescope nbgrader-course clean-venv

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	COURSE_OFFLINE=1 MPLBACKEND=Agg OMP_NUM_THREADS=1 $(PY) -m pytest -n $(JOBS) --dist worksteal --durations=15 tests

demo: $(STAMP)
	MPLBACKEND=Agg $(PY) -m vaegan demo

bench: $(STAMP)
	MPLBACKEND=Agg $(PY) benchmarks/bench.py $(BENCH_ARGS)

gradescope: $(STAMP)
	$(PY) -m autograder.gradescope --out dist

NBGRADER_COURSE ?= nbgrader-course
nbgrader-course: $(STAMP)
	$(PY) -m autograder.nbgrader_course build $(NBGRADER_COURSE)
	cd $(NBGRADER_COURSE) && PATH="$(abspath $(VENV))/bin:$$PATH" $(abspath $(PY)) -m nbgrader generate_assignment "*" --force

release: $(STAMP)
	$(PY) -m autograder release

clean-venv:
	rm -rf $(VENV)
