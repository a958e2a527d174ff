#!/usr/bin/env bash
# The checksum pinned in the templates, written at a release and checked before publishing.
#
#   scripts/release-pin.sh write BINARY [PROJECT]   pin BINARY's SHA-256 and Cargo.toml's
#                                                   version (and PROJECT, the GitLab project
#                                                   path that publishes it) in every file below
#   scripts/release-pin.sh check BINARY             exit 1, saying what differs, unless every
#                                                   file pins exactly BINARY, this version,
#                                                   and (in CI) $CI_PROJECT_PATH; on a tag,
#                                                   the tag must be v<version>
#
# The release pipeline runs `check` on the x86_64 binary it built before anything is
# published (RELEASING.md), so a template never names a checksum its release does not have.
set -euo pipefail
cd "$(dirname "$0")/.."
# Each carries the three lines `registry_login_project=`, `registry_login_release=` and
# `registry_login_release_sha256=` in its download script.
pinned_files=(ci-templates/registry-login.gitlab-ci.yml templates/registry-login.yml action.yml)

usage() { echo "usage: scripts/release-pin.sh write BINARY [PROJECT] | check BINARY" >&2; exit 2; }
[ $# -ge 2 ] || usage
command="$1" binary="$2"
[ -f "$binary" ] || { echo "release-pin.sh: $binary: no such file (build it with scripts/release-build.sh)" >&2; exit 2; }
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
sha256="$(sha256sum < "$binary" | cut -d ' ' -f 1)"

# The value of `registry_login_NAME=` in FILE (empty when the line is missing).
pinned() { sed -n "s/^ *registry_login_$2=\(.*\)$/\1/p" "$1" | head -n 1; }

case "$command" in
  write)
    for file in "${pinned_files[@]}"; do
      project="${3:-$(pinned "$file" project)}"
      sed -i -e "s|^\( *registry_login_project=\).*|\1$project|" \
             -e "s|^\( *registry_login_release=\).*|\1$version|" \
             -e "s|^\( *registry_login_release_sha256=\).*|\1$sha256|" "$file"
      echo "pinned in $file: $project $version $sha256"
    done
    ;;
  check)
    problems=0
    if [ -n "${CI_COMMIT_TAG:-}" ] && [ "$CI_COMMIT_TAG" != "v$version" ]; then
      echo "release refused: tag $CI_COMMIT_TAG is not v$version, the version in Cargo.toml" >&2
      problems=1
    fi
    for file in "${pinned_files[@]}"; do
      for pair in "release:$version" "release_sha256:$sha256" ${CI_PROJECT_PATH:+"project:$CI_PROJECT_PATH"}; do
        name="${pair%%:*}" want="${pair#*:}"
        got="$(pinned "$file" "$name")"
        if [ "$got" != "$want" ]; then
          echo "release refused: $file pins registry_login_$name=${got:-(nothing)}, but this commit's release is $want: run scripts/release-pin.sh write on the release binary, commit, and tag that commit (RELEASING.md)" >&2
          problems=1
        fi
      done
    done
    [ "$problems" -eq 0 ] || exit 1
    echo "release pins match: ci-registry-login $version, sha256 $sha256"
    ;;
  *) usage ;;
esac
