#!/usr/bin/env bash
# The WAN benchmark of issue 15 (benches/wan.rs): the release binary and docker login
# against the test bed behind TLS delay proxies at D = 0, 10, 25 ms. Needs the README's
# test setup (bash tests/run-all.sh installs hyperfine, docker-registry and curl).
set -euo pipefail
cd "$(dirname "$0")/.."
# The binary measured is the release's own (scripts/release-build.sh), copied aside: the
# bench's build unifies features with the dev-dependencies and writes a larger binary
# to the same path. CI_REGISTRY_LOGIN_RELEASE_BIN, when set, names another to measure.
if [ -z "${CI_REGISTRY_LOGIN_RELEASE_BIN:-}" ]; then
  built=$(bash scripts/release-build.sh | tail -n 1)
  mkdir -p target/bench
  cp "$built" target/bench/ci-registry-login
  export CI_REGISTRY_LOGIN_RELEASE_BIN="$PWD/target/bench/ci-registry-login"
fi
exec cargo bench --locked --bench wan
