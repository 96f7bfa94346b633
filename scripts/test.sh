#!/usr/bin/env bash
# Quick start 2: the whole test suite, as CI runs it.
#   1. Release build: unit, kernel, model-golden, ONNX-conformance and CLI tests (ctest).
#   2. ASan+UBSan build: the same suite under the sanitizers.
#   3. ThreadSanitizer build: the thread pool, parallel ops and concurrent-session tests.
#   4. libFuzzer: ONNX loader (+ compile under the memory limit), IR graphs through passes and
#      planner, image decoders, labels/JSON parsing; bounded time each (EFFI_FUZZ_SECONDS, default 30).
#   5. ARM64: cross-built kernel and graph tests under qemu-aarch64, default CPU and cortex-a53
#      (no dotprod).
# Set EFFI_TEST_STAGES to a subset, e.g. "release asan".
set -euo pipefail
cd "$(dirname "$0")/.."
stages="${EFFI_TEST_STAGES:-release asan tsan fuzz aarch64}"
jobs="${EFFI_JOBS:-2}"
scripts/install_deps.sh

has() { [[ " $stages " == *" $1 "* ]]; }
step() { echo; echo "=== $* ==="; }

if has release; then
  step "Release build + tests"
  cmake --preset release
  cmake --build --preset release -j "$jobs"
  ctest --preset release
fi

if has asan; then
  step "ASan+UBSan build + tests"
  cmake --preset asan-ubsan
  cmake --build --preset asan-ubsan -j "$jobs"
  ctest --preset asan-ubsan
fi

if has tsan; then
  step "ThreadSanitizer build + concurrency tests"
  cmake --preset tsan
  cmake --build --preset tsan -j "$jobs"
  ctest --preset tsan
fi

if has fuzz; then
  step "libFuzzer (${EFFI_FUZZ_SECONDS:-30} s per target)"
  cmake --preset fuzz
  cmake --build --preset fuzz -j "$jobs"
  # target:seed folders (the hostile test models seed the loader too). A fixed -seed makes a run
  # repeatable: CI explores the same inputs a local run with this script did, as far as it gets.
  # Each fuzzer is one process on one core: two run at a time (the machine has 2 cores).
  fuzz_one() {
    local target="${1%%:*}" work seeds seed
    work="$(mktemp -d)"
    IFS=, read -r -a seeds <<< "${1#*:}"
    for seed in "${seeds[@]}"; do
      [ -d "fuzz/corpus/$seed" ] && cp -r "fuzz/corpus/$seed"/. "$work"/
    done
    echo "$target: $(find "$work" -type f | wc -l) seeds"
    local rc=0
    build-fuzz/fuzz/$target "$work" -seed=1 -max_total_time="${EFFI_FUZZ_SECONDS:-30}" -rss_limit_mb=2048 \
      -timeout=10 -print_final_stats=0 > "$work.log" 2>&1 || rc=$?
    tail -n 3 "$work.log"
    rm -rf "$work" "$work.log"
    return $rc
  }
  # Waits for one fuzzer, prints its log, stops the script if it failed (a crash it found).
  fuzz_wait() {
    local rc=0
    wait "$1" || rc=$?
    cat "$2"
    rm -f "$2"
    if [ "$rc" != 0 ]; then echo "effi: a fuzzer failed (exit $rc)"; exit 1; fi
  }
  pids=()
  logs=()
  for entry in fuzz_onnx_load:onnx,../../tests/testdata/hostile fuzz_graph:graph \
               fuzz_image_decode:image fuzz_labels_json:labels; do
    if [ ${#pids[@]} -ge "$jobs" ]; then
      fuzz_wait "${pids[0]}" "${logs[0]}"
      pids=("${pids[@]:1}")
      logs=("${logs[@]:1}")
    fi
    log="$(mktemp)"
    fuzz_one "$entry" > "$log" 2>&1 &
    pids+=($!)
    logs+=("$log")
  done
  for i in "${!pids[@]}"; do fuzz_wait "${pids[$i]}" "${logs[$i]}"; done
fi

if has aarch64; then
  step "ARM64 (cross build, tests under qemu-aarch64)"
  scripts/install_deps.sh --arm64
  cmake --preset aarch64-qemu
  cmake --build --preset aarch64-qemu -j "$jobs"
  ctest --preset aarch64-qemu
  QEMU_CPU=cortex-a53 ctest --preset aarch64-qemu
fi
echo
echo "effi: all test stages passed ($stages)"
