# rtcstream: the two commands a newcomer needs are `make run` and `make test`.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run serve-workers test test-fast setup system lint bench bench-playout bench-capacity bench-browser clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

setup: $(VENV)/.installed

system:
	bash scripts/system-packages.sh

## Set up and serve the demo site with daphne on http://127.0.0.1:8000
run: setup
	-bash scripts/system-packages.sh
	$(PY) manage.py migrate --noinput
	$(PY) manage.py rtcstream_endpoints
	@echo "rtcstream demo: http://$(HOST):$(PORT)/  (admin: http://$(HOST):$(PORT)/admin/, make a user with: $(PY) manage.py createsuperuser)"
	$(PY) -m daphne -b $(HOST) -p $(PORT) rtcproject.asgi:application

## N daphne workers on one port, sharing REDIS_URL and DATABASE_URL (docs/deploy.md)
N ?= 2
serve-workers: setup
	$(PY) manage.py migrate --noinput
	$(PY) manage.py rtcstream_endpoints
	$(PY) scripts/serve_workers.py -n $(N) -b $(HOST) -p $(PORT)

## Set up and run the whole test suite (unit, end to end, real daphne, real Chromium)
test: setup system
	$(PY) -m pytest

## The suite without the browser and the minute-long real-time tests
test-fast: setup
	$(PY) -m pytest -m "not browser and not slow"

## Lint and type-check (CI runs it before the tests)
lint: setup
	$(PY) -m ruff check rtcstream rtcproject tests bench scripts
	$(PY) -m ruff format --check rtcstream rtcproject tests bench scripts
	$(PY) -m mypy rtcstream

bench: setup
	$(PY) bench/turn_latency.py

# The browser bench's own venv: the real FastRTC 0.0.34 and the Silero v4 model in faster-whisper's wheel.
FASTRTC_VENV := .bench/fastrtc-venv
$(FASTRTC_VENV)/.installed:
	$(PYTHON) -m venv $(FASTRTC_VENV)
	$(FASTRTC_VENV)/bin/python -m pip install -q --upgrade pip
	$(FASTRTC_VENV)/bin/python -m pip install -q "fastrtc[vad]==0.0.34"
	$(FASTRTC_VENV)/bin/python -m pip install -q --no-deps "faster-whisper==1.0.2"
	touch $@

## Turn-taking heard in Chromium (rtcstream's demo page and FastRTC 0.0.34, LAN and impaired path); ~10 min
bench-browser: setup system $(FASTRTC_VENV)/.installed
	$(PY) bench/browser/run.py $(BENCH_ARGS)

## Chromium playout of server audio, with and without frames between replies (issue 8's evidence)
bench-playout: setup system
	$(PY) bench/playout.py

## Sessions one and two daphne workers hold (audio echo, 640x480 video) against bare aiortc; where the time goes
bench-capacity: setup
	$(PY) bench/capacity.py $(CAPACITY_ARGS)

clean:
	rm -rf $(VENV) test-output db.sqlite3 .bench
