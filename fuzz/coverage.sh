#!/usr/bin/env bash
# Source coverage of src/linklayer/_frame.c reached by a fuzz corpus: builds
# the harness with clang's source-based coverage (no sanitizers), replays the
# corpus once (-runs=0) and prints llvm-cov's per-function and total region,
# line and branch figures. Writes only under fuzz/build/coverage/.
# Usage: fuzz/coverage.sh [corpus-dir...]   (default: fuzz/corpus fuzz/regressions)
set -euo pipefail
cd "$(dirname "$0")/.."
cc=$(command -v clang-14 || command -v clang || true)
[ -n "$cc" ] || { echo "ERROR: coverage: no clang (apt-get install clang-14 libclang-rt-14-dev)"; exit 1; }
suffix=${cc##*clang}
profdata=$(command -v "llvm-profdata$suffix" || command -v llvm-profdata || true)
cov=$(command -v "llvm-cov$suffix" || command -v llvm-cov || true)
[ -n "$profdata" ] && [ -n "$cov" ] || { echo "ERROR: coverage: llvm-profdata/llvm-cov not found"; exit 1; }
out=fuzz/build/coverage
mkdir -p "$out"
rm -f "$out"/*.profraw
"$cc" -std=c11 -g -O1 -fsanitize=fuzzer -fprofile-instr-generate -fcoverage-mapping \
    -Isrc/linklayer fuzz/fuzz_decode.c src/linklayer/_frame.c -lcrypto -o "$out/fuzz_decode_cov"
dirs=("$@")
[ ${#dirs[@]} -gt 0 ] || dirs=(fuzz/corpus fuzz/regressions)
LLVM_PROFILE_FILE="$out/run.profraw" "$out/fuzz_decode_cov" -runs=0 "${dirs[@]}" \
    >"$out/replay.log" 2>&1 || { tail -20 "$out/replay.log"; echo "ERROR: coverage: replay failed"; exit 1; }
"$profdata" merge -sparse "$out/run.profraw" -o "$out/run.profdata"
"$cov" report "$out/fuzz_decode_cov" -instr-profile="$out/run.profdata" \
    -show-functions src/linklayer/_frame.c
"$cov" show "$out/fuzz_decode_cov" -instr-profile="$out/run.profdata" \
    -show-line-counts-or-regions src/linklayer/_frame.c >"$out/_frame.c.txt"
echo "info: coverage: annotated source in $out/_frame.c.txt"
