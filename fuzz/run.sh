#!/usr/bin/env bash
# Exploration, not the gate: runs every fuzz target for FUZZ_SECONDS each (60 by
# default) from the committed inputs in fuzz/corpus/TARGET, on the nightly toolchain
# with cargo-fuzz (installed when missing, and said so). Run it after any change to a
# parser or a normaliser (names, WWW-Authenticate, JWT, variables files, docker config
# merge), a few minutes per target: FUZZ_SECONDS=180 bash fuzz/run.sh.
#
# New inputs go to a scratch folder, so the committed corpus stays as it is. A finding
# prints the panic message, the input as escaped text and the command that reproduces
# it; commit the input as fuzz/corpus/TARGET/regression-NAME and the gate
# (tests/suite/fuzz_corpus.rs, stable toolchain) replays it from then on.
# The last line is the verdict; the exit code is 1 when any target found something.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"
# cargo fuzz's defaults: release with debug assertions, address sanitizer (it watches
# the unsafe code under serde_yaml). Build and run must agree, or run rebuilds.
fuzz=(--fuzz-dir fuzz)

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzzing: not run: no nightly toolchain (cargo fuzz needs it for the sanitizers: rustup toolchain install nightly)"
  exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz (cargo install --locked cargo-fuzz)"
  cargo install --locked cargo-fuzz >/dev/null
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
echo "== building the fuzz targets (nightly, address sanitizer)"
if ! cargo +nightly fuzz build "${fuzz[@]}" >"$scratch/build.log" 2>&1; then
  tail -n 40 "$scratch/build.log"
  echo "fuzzing: FAILED: the fuzz targets do not build"
  exit 1
fi

# The input as text a person can read: printable ASCII as is, the rest escaped.
escaped() {
  od -An -c -v "$1" | tr -s ' ' | sed 's/^ //' | tr -d '\n'
  echo
}

targets=$(cargo +nightly fuzz list --fuzz-dir fuzz)
found=()
for target in $targets; do
  mkdir -p "$scratch/$target"
  log="$scratch/$target.log"
  if cargo +nightly fuzz run "${fuzz[@]}" "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
      -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    runs="$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | tail -n1 || true)"
    echo "$target: clean (${runs:-ran} for ${seconds}s)"
    continue
  fi
  found+=("$target")
  input="$(grep -o 'fuzz/artifacts/[^ ]*' "$log" | head -n1 || true)"
  echo "$target: FOUND a failing input"
  echo "  panic:   $(grep -A2 'panicked at' "$log" | head -n3 | tr '\n' ' ' || true)"
  if [ -n "$input" ] && [ -f "$input" ]; then
    echo "  input:   $(escaped "$input")"
    echo "  replay:  cargo +nightly fuzz run --fuzz-dir fuzz $target $input"
    echo "  keep it: cp $input fuzz/corpus/$target/regression-NAME (the gate replays it)"
  else
    echo "  libFuzzer's last 40 lines:"
    tail -n 40 "$log" | sed 's/^/    /'
  fi
done
count=$(echo "$targets" | wc -w)
if [ ${#found[@]} -eq 0 ]; then
  echo "fuzzing: all $count targets clean (${seconds}s each)"
else
  echo "fuzzing: FAILED: ${#found[@]} of $count targets found failing inputs: ${found[*]}"
  exit 1
fi
