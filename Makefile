# sensorhub — the two commands a new machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test system-deps lint typecheck pytest bench clean

# (Re)install when the project metadata changes; editable so source edits apply at once.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/sensorhub serve --virtual 2

test: $(STAMP) system-deps lint typecheck pytest

# Programs the tests drive, and the Debian package of each: chromium for the dashboard tests
# (never a downloaded browser), systemd-analyze to verify the unit file, dbus-daemon for a
# private bus in the doctor tests, strace to prove liblsl only talks to loopback, mosquitto as
# the reference MQTT broker the bridge tests start on a loopback port (with mosquitto_passwd),
# openssl to make the test CA and certificates for MQTT over TLS. Missing ones
# are installed with apt (needs root, as CI has); otherwise the message says what to run.
SYSTEM_DEPS := /usr/bin/chromium:chromium /usr/bin/systemd-analyze:systemd \
	/usr/bin/dbus-daemon:dbus-daemon /usr/bin/strace:strace /usr/sbin/mosquitto:mosquitto \
	/usr/bin/openssl:openssl

system-deps:
	@missing=""; for dep in $(SYSTEM_DEPS); do \
		[ -x "$${dep%%:*}" ] || missing="$$missing $${dep##*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing Debian packages:$$missing"; \
			DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else \
			echo "the tests need Debian packages:$$missing (sudo apt-get install$$missing)"; \
			exit 1; \
		fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check sensorhub tests bench
	$(BIN)/ruff format --check sensorhub tests bench

typecheck: $(STAMP)
	$(BIN)/mypy --strict sensorhub

# SENSORHUB_REQUIRE_LSL: liblsl comes with the test extra, so an LSL test that cannot load it
# fails instead of skipping (elsewhere it may skip, saying why).
pytest: $(STAMP)
	SENSORHUB_REQUIRE_LSL=1 $(BIN)/python -m pytest

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
