# mcudeploy: `make demo` sets up a fresh machine and runs LeNet-5 on the emulated NUCLEO-F446RE;
# `make test` sets up and runs the test suite (what CI runs).
PYTHON ?= python3
PYTEST_ARGS ?=
# `make test` runs on this many pytest-xdist workers (the 2-core CI machine: 2; TEST_WORKERS=0 runs serially).
# --dist loadfile keeps each test file on one worker, so a module's fixtures (compiled projects, the
# MLPerf runner's four compiled models) are built once, not once per worker; --no-loadscope-reorder
# hands the files out in tests/conftest.py's order (the longest first), not by their number of tests.
TEST_WORKERS ?= 2

.PHONY: setup demo test test-fast lint figures clean

setup:
	./scripts/setup.sh

demo: setup
	mcudeploy demo

test: setup
	MCUDEPLOY_REQUIRE_ALL=1 $(PYTHON) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

test-fast: setup
	$(PYTHON) -m pytest -q -m "not emulated and not slow" $(PYTEST_ARGS)

# The README's measured tables, from a run (benchmarks/figures.py --list shows the sets): the fast sets by
# default, FIGURES=all for every set (fine-tuning: many minutes), FIGURES=lenet,ops for some.
figures: setup
	$(PYTHON) benchmarks/figures.py $(if $(filter all,$(FIGURES)),--all,$(if $(FIGURES),--only $(FIGURES)))

lint:
	$(PYTHON) -m ruff check tool tests

clean:
	rm -rf out build .pytest_cache
