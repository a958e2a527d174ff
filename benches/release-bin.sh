# Sourced by the bench scripts: the binary measured is the release's own
# (scripts/release-build.sh), copied aside, since the bench's build unifies features with
# the dev-dependencies and writes a larger binary to the same path.
# CI_REGISTRY_LOGIN_RELEASE_BIN, when set, names another to measure.
if [ -z "${CI_REGISTRY_LOGIN_RELEASE_BIN:-}" ]; then
  built=$(bash scripts/release-build.sh | tail -n 1)
  mkdir -p target/bench
  cp "$built" target/bench/ci-registry-login
  export CI_REGISTRY_LOGIN_RELEASE_BIN="$PWD/target/bench/ci-registry-login"
fi
