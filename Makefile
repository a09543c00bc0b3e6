# rtcstream: the two commands a newcomer needs are `make run` and `make test`.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run serve-workers test test-fast setup system lint bench bench-playout bench-capacity bench-browser bench-transports bench-turn-model clean

# Layers (requirements/): the demo site (rtcstream with its extras), then the tests and linters,
# then the benches; every one installed at the versions CI tested (constraints.txt).
PIP_INSTALL := $(PY) -m pip install -q -c constraints.txt

# Wheels installed without their dependencies: only files they ship are read (see each file's comment).
NO_DEPS_INSTALL := $(PY) -m pip install -q --no-deps

$(VENV)/.demo: requirements/demo.txt requirements/turn-model.txt pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PIP_INSTALL) -r requirements/demo.txt
	$(NO_DEPS_INSTALL) -r requirements/turn-model.txt
	touch $@

$(VENV)/.test: $(VENV)/.demo requirements/test.txt requirements/lint.txt requirements/recordings.txt
	$(PIP_INSTALL) -r requirements/test.txt -r requirements/lint.txt
	$(NO_DEPS_INSTALL) -r requirements/recordings.txt
	touch $@

$(VENV)/.bench: $(VENV)/.test requirements/bench.txt
	$(PIP_INSTALL) -r requirements/bench.txt
	touch $@

setup: $(VENV)/.test

system:
	bash scripts/system-packages.sh

## Set up and serve the demo site with daphne on http://127.0.0.1:8000
run: $(VENV)/.demo
	-bash scripts/system-packages.sh
	$(PY) manage.py migrate --noinput
	$(PY) manage.py rtcstream_endpoints
	@echo "rtcstream demo: http://$(HOST):$(PORT)/  (admin: http://$(HOST):$(PORT)/admin/, make a user with: $(PY) manage.py createsuperuser)"
	$(PY) -m daphne -b $(HOST) -p $(PORT) rtcproject.asgi:application

## N daphne workers on one port, sharing REDIS_URL and DATABASE_URL (docs/deploy.md)
N ?= 2
serve-workers: $(VENV)/.demo
	$(PY) manage.py migrate --noinput
	$(PY) manage.py rtcstream_endpoints
	$(PY) scripts/serve_workers.py -n $(N) -b $(HOST) -p $(PORT)

## Set up and run the whole test suite (unit, end to end, real daphne, real Chromium and Firefox)
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

bench: $(VENV)/.bench
	$(PY) bench/turn_latency.py

# The browser bench's own venv: the real FastRTC 0.0.34 and the Silero v4 model in faster-whisper's wheel.
FASTRTC_VENV := .bench/fastrtc-venv
$(FASTRTC_VENV)/.installed:
	$(PYTHON) -m venv $(FASTRTC_VENV)
	$(FASTRTC_VENV)/bin/python -m pip install -q --upgrade pip
	$(FASTRTC_VENV)/bin/python -m pip install -q "fastrtc[vad]==0.0.34"
	$(FASTRTC_VENV)/bin/python -m pip install -q --no-deps "faster-whisper==1.0.2"
	touch $@

# The browser bench's pipecat venv: the real pipecat-ai 1.14 and its SmallWebRTC transport (aiortc); its wheel
# ships Silero and Smart Turn v3.2. FastAPI and uvicorn serve bench/browser/pipecat_app.py's page and offers.
PIPECAT_VENV := .bench/pipecat-venv
$(PIPECAT_VENV)/.installed:
	$(PYTHON) -m venv $(PIPECAT_VENV)
	$(PIPECAT_VENV)/bin/python -m pip install -q --upgrade pip
	$(PIPECAT_VENV)/bin/python -m pip install -q "pipecat-ai[webrtc]==1.14.0" "fastapi==0.165.0" "uvicorn==0.55.0"
	touch $@

## Turn-taking heard in Chromium and Firefox (rtcstream with and without its turn model, FastRTC 0.0.34, pipecat 1.14 with
## Smart Turn, in Chromium; real recordings and espeak-ng; LAN and impaired path); ~35 min
bench-browser: $(VENV)/.bench system $(FASTRTC_VENV)/.installed $(PIPECAT_VENV)/.installed
	$(PY) bench/browser/run.py $(BENCH_ARGS)

## Smart Turn's accuracy on the marked recordings, and the pause -> latency / cut-off trade-off (docs/turn-model-tradeoff.png)
bench-turn-model: $(VENV)/.bench system
	$(PY) -m bench.turn_model_accuracy

## Chromium playout of server audio, with and without frames between replies (issue 8's evidence)
bench-playout: $(VENV)/.bench system
	$(PY) bench/playout.py

## Sessions one and two daphne workers hold (audio echo, 640x480 video) against bare aiortc; where the time goes
bench-capacity: $(VENV)/.bench
	$(PY) bench/capacity.py $(CAPACITY_ARGS)

## Server CPU of a conversation on each transport: WebRTC, audio over the websocket, a Twilio call (~2 min)
bench-transports: $(VENV)/.bench system
	$(PY) bench/transports.py $(TRANSPORTS_ARGS)

clean:
	rm -rf $(VENV) test-output db.sqlite3 .bench
