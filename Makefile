# sensorhub — the two commands a new machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The dashboard tests drive Debian's chromium (no browser download).
CHROMIUM := /usr/bin/chromium

.PHONY: run test lint typecheck pytest bench clean

# (Re)install when the project metadata changes; editable so source edits apply at once.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/sensorhub serve --virtual 2

test: $(STAMP) $(CHROMIUM) lint typecheck pytest

# chromium is installed when missing, which needs root (CI runs as root); otherwise the
# message says what to run.
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "the dashboard tests need Debian's chromium: sudo apt-get install chromium"; exit 1; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check sensorhub tests bench
	$(BIN)/ruff format --check sensorhub tests bench

typecheck: $(STAMP)
	$(BIN)/mypy --strict sensorhub

pytest: $(STAMP)
	$(BIN)/python -m pytest

# Benchmarks print figures beside a baseline measured in the same run (ratios, not absolute
# times). polar-python is the decode baseline only, so it is installed here, not as a dependency.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet 'polar-python>=1.1'
	$(BIN)/python bench/bench_decode.py
	$(BIN)/python bench/bench_dsp.py
	$(BIN)/python bench/eval_umafall.py
	$(BIN)/python bench/eval_sim.py
	$(BIN)/python bench/bench_ingest.py
	$(BIN)/python bench/bench_fanout.py
	$(BIN)/python bench/bench_replay.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build *.egg-info
