#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (FUZZ_SECONDS each, 30 by default),
# starting from the committed seeds in fuzz/corpus/TARGET. New inputs go to a scratch
# folder, so the committed corpus stays as it is. Needs the nightly toolchain and
# cargo-fuzz (installed here when missing); without them it says why and skips.
# A crash fails the run; libFuzzer leaves the input in fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-30}"
# cargo fuzz's defaults: release with debug assertions, address sanitizer (it watches
# the unsafe code under serde_yaml). Build and run must agree, or run rebuilds.
fuzz=(--fuzz-dir fuzz)

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzzing skipped: no nightly toolchain (cargo fuzz needs it for the sanitizers; rustup toolchain install nightly)"
  exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  if ! cargo install --locked cargo-fuzz >/dev/null 2>&1; then
    echo "fuzzing skipped: cargo-fuzz could not be installed (cargo install --locked cargo-fuzz failed)"
    exit 0
  fi
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
echo "== building the fuzz targets (nightly, address sanitizer)"
if ! cargo +nightly fuzz build "${fuzz[@]}" >"$scratch/build.log" 2>&1; then
  tail -n 40 "$scratch/build.log"
  exit 1
fi
status=0
for target in $(cargo +nightly fuzz list --fuzz-dir fuzz); do
  mkdir -p "$scratch/$target"
  log="$scratch/$target.log"
  if cargo +nightly fuzz run "${fuzz[@]}" "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
      -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    runs="$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | tail -n1)"
    echo "$target: clean (${runs:-ran} for ${seconds}s)"
  else
    status=1
    echo "$target: FAILED; the last 40 lines of libFuzzer's output:"
    tail -n 40 "$log"
  fi
done
exit "$status"
