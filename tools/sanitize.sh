#!/usr/bin/env bash
# Runs the C codec's tests once more against a build of linklayer._frame_cffi
# made with AddressSanitizer + UndefinedBehaviorSanitizer (HBEAT_SANITIZE=1,
# see build_ext.py). The build goes to a temporary directory, never over the
# normal one. Fails if the build fails, a test fails, or a sanitizer reports
# anything. Usage: tools/sanitize.sh <venv-python>
set -euo pipefail
PY=${1:?usage: tools/sanitize.sh <venv-python>}
cd "$(dirname "$0")/.."
root=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "info: sanitize: building _frame_cffi with ASan+UBSan in $tmp"
HBEAT_SANITIZE=1 "$PY" setup.py -q build_ext --build-lib "$tmp/lib" --build-temp "$tmp/build" \
    >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; echo "ERROR: sanitize: build failed"; exit 1; }
so=$(ls "$tmp"/lib/linklayer/_frame_cffi*.so)
# Into a file first: `grep -q` stops reading at its first match, and under
# pipefail nm's SIGPIPE would fail the check.
nm -D "$so" >"$tmp/symbols"
if ! grep -q __asan_report "$tmp/symbols" || ! grep -q __ubsan_handle "$tmp/symbols"; then
    echo "ERROR: sanitize: $so is not instrumented"; exit 1
fi
# The package's Python files beside the sanitized extension, first on sys.path.
cp src/linklayer/*.py src/linklayer/py.typed "$tmp/lib/linklayer/"

asan=$(gcc -print-file-name=libasan.so)
ubsan=$(gcc -print-file-name=libubsan.so)
export LD_PRELOAD="$asan:$ubsan"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export PYTHONPATH="$tmp/lib:$root"
export PYTHONDONTWRITEBYTECODE=1

"$PY" -c "
import linklayer._frame_cffi as m, sys
if not m.__file__.startswith('$tmp/lib/'):
    sys.exit('ERROR: sanitize: imported ' + m.__file__ + ', not the sanitized build')
print('info: sanitize: using', m.__file__)
"
status=0
"$PY" -m pytest -p no:cacheprovider -q tests/linklayer/test_native.py \
    tests/linklayer/test_agreement.py tests/linklayer/test_fuzz_regressions.py \
    tests/linklayer/test_batchrecv.py tests/linklayer/test_ticker.py tests/linklayer/test_quiet.py tests/linklayer/test_leasepoll.py \
    2>&1 | tee "$tmp/test.log" || status=$?
if grep -qE "ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer|UndefinedBehaviorSanitizer" \
    "$tmp/test.log"; then
    echo "ERROR: sanitize: a sanitizer reported a problem (see above)"
    exit 1
fi
if [ "$status" -ne 0 ]; then
    echo "ERROR: sanitize: tests failed under ASan+UBSan (exit $status)"
    exit "$status"
fi
echo "info: sanitize: clean"
