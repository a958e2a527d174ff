#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: installs the real parts the tests
# drive (distribution registry, skopeo, podman, buildah, gitlab-ci-local, ...), builds
# the static release binary the README tells users to build, and runs every test.
# .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages: command -> package.
missing=()
for pair in docker-registry:docker-registry skopeo:skopeo podman:podman buildah:buildah \
            hyperfine:hyperfine /usr/bin/time:time rsync:rsync file:file unshare:util-linux git:git \
            strace:strace; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v docker >/dev/null || { echo "the docker CLI is required (client only; no daemon needed)"; exit 1; }

# gitlab-ci-local: 4.73.0 is the newest release that starts on Node.js 20.
GCL_VERSION=4.73.0
tools="$PWD/target/tools"
if [ ! -x "$tools/node_modules/.bin/gitlab-ci-local" ] || \
   [ "$("$tools/node_modules/.bin/gitlab-ci-local" --version 2>/dev/null)" != "$GCL_VERSION" ]; then
  echo "== installing gitlab-ci-local $GCL_VERSION"
  mkdir -p "$tools"
  npm install --silent --no-audit --no-fund --prefix "$tools" "gitlab-ci-local@$GCL_VERSION" >/dev/null
fi
export PATH="$tools/node_modules/.bin:$PATH"

echo "== building the static release binary"
cargo build --release --locked
# tests/static_binary.rs runs exactly this binary in an empty chroot.
export CI_REGISTRY_LOGIN_RELEASE_BIN="${CARGO_TARGET_DIR:-$PWD/target}/x86_64-unknown-linux-gnu/release/ci-registry-login"

# Say which tests will skip and why: cargo hides what a passing test prints.
schemas="${CI_REGISTRY_LOGIN_SCHEMAS:-$PWD/../shared/schemas}"
if [ -f "$schemas/gitlab-ci.json" ] && [ -f "$schemas/github-action.json" ]; then
  echo "== JSON schemas: $schemas"
else
  echo "== NOTE: no JSON schemas at $schemas (set CI_REGISTRY_LOGIN_SCHEMAS): the schema checks will skip"
fi
if ! unshare --mount true 2>/dev/null || ! chroot / true 2>/dev/null; then
  echo "== NOTE: this kernel or user may not chroot: the empty-chroot tests will skip"
fi

echo "== running the tests"
cargo test --locked -- --test-threads "${TEST_THREADS:-4}"

if [ -x fuzz/run.sh ]; then
  echo "== fuzzing"
  fuzz/run.sh
fi
echo "== all tests passed"
