#!/usr/bin/env bash
# Proves the release build reproducible: builds the committed tree (HEAD) twice, from two
# folders of different names and depths with separate target folders, and compares the
# two binaries byte for byte. The release pipeline runs it before publishing; it is not
# in the gate (tests/run-all.sh), whose time it would more than double.
#
#   scripts/reproducible-build.sh [TARGET]
#
# Last line: `reproducible: SHA256  TARGET` (exit 0) or `NOT reproducible: ...` (exit 1).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:-x86_64-unknown-linux-gnu}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
commit_time="$(git log -1 --format=%ct)"
sums=()
n=0
for place in one/ci-registry-login two/deeper/checkout; do
  mkdir -p "$work/$place"
  # The commit only: an uncommitted change would make the binary of no tag.
  git archive HEAD | tar -x -C "$work/$place"
  # The copies are not git checkouts: give each the commit's time.
  bin="$(cd "$work/$place" && SOURCE_DATE_EPOCH="$commit_time" \
         CARGO_TARGET_DIR="$work/$place.target" bash scripts/release-build.sh "$target")"
  sums+=("$(sha256sum < "$bin" | cut -d ' ' -f 1)")
  n=$((n + 1))
  cp "$bin" "$work/$n.bin"
done
if [ "${sums[0]}" = "${sums[1]}" ] && cmp -s "$work/1.bin" "$work/2.bin"; then
  echo "reproducible: ${sums[0]}  $target"
else
  echo "NOT reproducible: ${sums[0]} (one/ci-registry-login) differs from ${sums[1]} (two/deeper/checkout) for $target" >&2
  exit 1
fi
