#!/usr/bin/env bash
# The WAN benchmark of issue 15 (benches/wan.rs): the release binary and docker login
# against the test bed behind TLS delay proxies at D = 0, 10, 25 ms. Needs the README's
# test setup (bash tests/run-all.sh installs hyperfine, docker-registry and curl).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/release-bin.sh
exec cargo bench --locked --bench wan
