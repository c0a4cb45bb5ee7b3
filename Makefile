# hbeat: the two commands a newcomer needs are `make demo` and `make test`.
# Both bootstrap a virtualenv in .venv from nothing (idempotently) and build
# the C link layer first.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.hbeat-installed
DEPS   := pyproject.toml setup.py build_ext.py src/linklayer/_frame.c src/linklayer/_frame.h

.PHONY: all venv test demo lint typecheck sanitize sysdeps bench fuzz fuzz-smoke clean deb

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

# All of src/ under `mypy --strict` (strict = true in pyproject.toml).
typecheck: $(STAMP)
	$(PY) -m mypy src

# The C codec's tests once more, with the extension built under
# AddressSanitizer + UndefinedBehaviorSanitizer.
sanitize: $(STAMP)
	tools/sanitize.sh $(PY)

# The lab tests mostly wait on cluster timers, so TEST_JOBS pytest-xdist
# workers share the machine, one test file each at a time (the fault suites
# and a module's shared lab stay on one worker). TEST_JOBS=0 runs serially.
TEST_JOBS ?= 3
test: $(STAMP) sysdeps lint typecheck sanitize fuzz-smoke
	$(PY) -m pytest $(if $(filter 0,$(TEST_JOBS)),,-n $(TEST_JOBS) --dist loadfile) --durations=25

bench: $(STAMP)
	$(PY) -m pytest bench/bench_codec.py bench/bench_cluster.py --benchmark-only

demo: $(STAMP) sysdeps
	$(PY) -m hbeat.demo

# libFuzzer on the C decoder and verifier (fuzz/README.md), with ASan+UBSan,
# for FUZZ_SECONDS. Seeds fuzz/corpus/ from the interop captures and replays
# fuzz/regressions/ first; any crash, leak or failed property stops it with
# the input in fuzz/build/artifacts/. Extra libFuzzer flags: FUZZ_FLAGS.
FUZZ_SECONDS ?= 60
FUZZ_FLAGS   ?=
FUZZ_CC      ?= $(shell command -v clang-14 || command -v clang)
FUZZ_BIN     := fuzz/build/fuzz_decode

$(FUZZ_BIN): fuzz/fuzz_decode.c src/linklayer/_frame.c src/linklayer/_frame.h
	@test -n "$(FUZZ_CC)" || { echo "ERROR: fuzz: no clang (apt-get install clang-14 libclang-rt-14-dev)"; exit 1; }
	@mkdir -p fuzz/build
	$(FUZZ_CC) -std=c11 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all -Isrc/linklayer fuzz/fuzz_decode.c src/linklayer/_frame.c \
	    -lcrypto -o $@

# What CI runs: a short fuzz of the decoder and verifier (the long run is `make fuzz`).
fuzz-smoke:
	@if ! command -v clang-14 >/dev/null && ! command -v clang >/dev/null \
	    && [ "$$(id -u)" != 0 ] && [ "$$CI" != true ]; then \
	    echo "SKIPPED: fuzz smoke: clang is not installed (make test installs it when root)"; \
	else $(MAKE) fuzz FUZZ_SECONDS=20; fi

fuzz: $(STAMP) $(FUZZ_BIN)
	$(PY) fuzz/make_seeds.py fuzz/corpus
	@mkdir -p fuzz/build/artifacts
	$(FUZZ_BIN) -max_total_time=$(FUZZ_SECONDS) -timeout=10 -dict=fuzz/frame.dict \
	    -artifact_prefix=fuzz/build/artifacts/ -print_final_stats=1 $(FUZZ_FLAGS) \
	    fuzz/corpus fuzz/regressions

# The Debian package (debian/, README.md "Install on your two nodes"), built
# with dpkg-buildpackage in a clean copy of the sources: build/deb/hbeat_*.deb.
DEB_DIR := build/deb
deb:
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/hbeat
	cp -a debian src scripts man examples systemd pyproject.toml setup.py build_ext.py \
	    README.md $(DEB_DIR)/hbeat/
	cd $(DEB_DIR)/hbeat && dpkg-buildpackage -b -us -uc
	@ls $(DEB_DIR)/hbeat_*.deb

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info src/linklayer/_frame_cffi*.so src/linklayer/_frame_cffi.c
