# hbeat: the two commands a newcomer needs are `make demo` and `make test`.
# Both bootstrap a virtualenv in .venv from nothing (idempotently) and build
# the C link layer first.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.hbeat-installed
DEPS   := pyproject.toml setup.py build_ext.py src/linklayer/_frame.c src/linklayer/_frame.h

# Pure modules held to `mypy --strict` (no I/O, clock injected).
MYPY_PURE := src/linklayer src/hbeat/config src/hbeat/cli.py src/hbeat/clstatus.py src/hbeat/logfmt.py \
             src/hbeat/bus.py src/hbeat/control.py \
             src/supervisor/membership.py src/supervisor/sequencing.py \
             src/supervisor/messages.py src/supervisor/generation.py \
             src/supervisor/restartpolicy.py src/workers/schedule.py src/workers/serialframer.py \
             src/supervisor/resources.py src/supervisor/groupops.py \
             src/supervisor/rscmessages.py src/workers/scriptrun.py

.PHONY: all venv test demo lint typecheck sanitize sysdeps bench clean

all: venv

$(STAMP): $(DEPS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	@touch $@

venv: $(STAMP)

sysdeps:
	@tools/sysdeps.sh

lint: $(STAMP)
	$(PY) -m ruff check src tests bench build_ext.py setup.py

typecheck: $(STAMP)
	$(PY) -m mypy $(MYPY_PURE)

# The C codec's tests once more, with the extension built under
# AddressSanitizer + UndefinedBehaviorSanitizer.
sanitize: $(STAMP)
	tools/sanitize.sh $(PY)

test: $(STAMP) sysdeps lint typecheck sanitize
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) -m pytest bench --benchmark-only

demo: $(STAMP) sysdeps
	$(PY) -m hbeat.demo

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info src/linklayer/_frame_cffi*.so src/linklayer/_frame_cffi.c
