#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine with Rust (stable): installs the
# real parts the tests drive, builds the static release binary the README tells users to
# build, runs every test, and ends with one line: `N passed, M failed, K skipped`, each
# skip listed above it with its reason. .ci/run calls exactly this.
#
# Deterministic: no random exploration here. Fuzzing is fuzz/run.sh (nightly, timed),
# run by developers; its findings are committed under fuzz/corpus/ and replayed by
# tests/suite/fuzz_corpus.rs. With CI=true a test that cannot run because a promised part is
# missing (the JSON schemas, gitlab-ci-local, the release binary) fails, not skips.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  echo "== installing Debian packages: $*"
  if [ -z "${apt_updated:-}" ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# command -> Debian package. docker.io is Debian's docker (only its CLI is used: no
# daemon runs); nodejs carries npm where its repository bundles it.
wanted=(docker-registry:docker-registry skopeo:skopeo podman:podman buildah:buildah
        hyperfine:hyperfine /usr/bin/time:time rsync:rsync file:file unshare:util-linux
        git:git strace:strace chroot:coreutils script:bsdutils setpriv:util-linux docker:docker.io node:nodejs)
missing=()
for pair in "${wanted[@]}"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== this run installs what is missing: ${missing[*]} (Debian), then gitlab-ci-local (npm)"
  apt_install "${missing[@]}"
fi
command -v npm >/dev/null 2>&1 || apt_install npm

# gitlab-ci-local: 4.73.0 is the newest release that starts on Node.js 20.
GCL_VERSION=4.73.0
tools="$PWD/target/tools"
if [ ! -x "$tools/node_modules/.bin/gitlab-ci-local" ] || \
   [ "$("$tools/node_modules/.bin/gitlab-ci-local" --version 2>/dev/null)" != "$GCL_VERSION" ]; then
  echo "== installing gitlab-ci-local $GCL_VERSION (npm, into target/tools)"
  mkdir -p "$tools"
  npm install --silent --no-audit --no-fund --prefix "$tools" "gitlab-ci-local@$GCL_VERSION" >/dev/null
fi
export PATH="$tools/node_modules/.bin:$PATH"

echo "== building the static release binary"
cargo build --release --locked
# tests/suite/static_binary.rs runs exactly this binary in an empty chroot.
export CI_REGISTRY_LOGIN_RELEASE_BIN="${CARGO_TARGET_DIR:-$PWD/target}/x86_64-unknown-linux-gnu/release/ci-registry-login"

schemas="${CI_REGISTRY_LOGIN_SCHEMAS:-$PWD/../shared/schemas}"
if [ -f "$schemas/gitlab-ci.json" ] && [ -f "$schemas/github-action.json" ]; then
  echo "== JSON schemas: $schemas"
elif [ "${CI:-}" = true ]; then
  echo "== NOTE: no JSON schemas at $schemas (set CI_REGISTRY_LOGIN_SCHEMAS): with CI=true the schema checks fail"
else
  echo "== NOTE: no JSON schemas at $schemas (set CI_REGISTRY_LOGIN_SCHEMAS): the schema checks will skip"
fi

# Tests record what they skip here, with the reason; cargo hides what passing tests print.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
export CI_REGISTRY_LOGIN_SKIPPED="$scratch/skipped"
: >"$CI_REGISTRY_LOGIN_SKIPPED"

echo "== running the tests"
status=0
cargo test --locked --no-fail-fast -- --test-threads "${TEST_THREADS:-4}" 2>&1 | tee "$scratch/test.log" || status=$?

# `test result: ok. 12 passed; 0 failed; 1 ignored; ...`, one line per test binary.
read -r passed failed ignored < <(awk '/^test result:/ {
    for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) g += $i }
  } END { print p + 0, f + 0, g + 0 }' "$scratch/test.log")
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  echo "cargo test exited $status without a failing test (a build error?): counted as one failure"
  failed=1
fi
skips=$(sort -u "$CI_REGISTRY_LOGIN_SKIPPED" | grep -c . || true)
echo
echo "== summary"
if [ "$skips" -gt 0 ] || [ "$ignored" -gt 0 ]; then
  sort -u "$CI_REGISTRY_LOGIN_SKIPPED" | sed 's/^/skipped: /'
  [ "$ignored" -eq 0 ] || echo "skipped: $ignored tests marked #[ignore]"
fi
# A skipped test returned early and cargo counted it as passed.
echo "$((passed - skips)) passed, $failed failed, $((skips + ignored)) skipped"
[ "$failed" -eq 0 ]
