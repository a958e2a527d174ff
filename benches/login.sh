#!/usr/bin/env bash
# The login benchmark of issue 3 (benches/login.rs): the release binary against the
# test bed, side by side with docker login. Needs the README's test setup
# (bash tests/run-all.sh installs hyperfine, time, docker-registry).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/release-bin.sh
exec cargo bench --locked --bench login
