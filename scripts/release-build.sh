#!/usr/bin/env bash
# The release build: the static binary for one target, bit-for-bit reproducible from a
# commit (scripts/reproducible-build.sh proves it). Prints the binary's path on stdout.
#
#   scripts/release-build.sh [TARGET]     TARGET: x86_64-unknown-linux-gnu (default) or
#                                         aarch64-unknown-linux-gnu
#
# What would differ between two machines is taken out: the compiler is the one pinned in
# rust-toolchain.toml; the folders this checkout, the cargo home and the target folder
# live in are remapped to fixed names (--remap-path-prefix), so panic locations carry
# no local path; SOURCE_DATE_EPOCH is the commit's time for anything that would stamp
# one (nothing in the build does today). `strip = true` in Cargo.toml drops the rest.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:-x86_64-unknown-linux-gnu}"
case "$target" in
  x86_64-unknown-linux-gnu | aarch64-unknown-linux-gnu) ;;
  *) echo "release-build.sh: unknown target '$target': use x86_64-unknown-linux-gnu or aarch64-unknown-linux-gnu" >&2; exit 2 ;;
esac
source_dir="$PWD"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
target_dir="${CARGO_TARGET_DIR:-$source_dir/target}"
SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
export SOURCE_DATE_EPOCH

# Longest prefix first: rustc applies the last matching --remap-path-prefix.
flags=("--remap-path-prefix=$source_dir=/build/ci-registry-login"
       "--remap-path-prefix=$cargo_home=/cargo"
       "--remap-path-prefix=$target_dir=/build/target")
config=()
if [ "$target" = aarch64-unknown-linux-gnu ]; then
  # .cargo/config.toml sets the static flags for x86_64 only (the default target).
  flags+=(-C target-feature=+crt-static --cfg 'getrandom_backend="linux_getrandom"')
  # On an arm64 runner the host's cc links; elsewhere a cross linker must.
  if [ "$(rustc -vV | sed -n 's/^host: //p')" != "$target" ]; then
    config+=(--config "target.$target.linker=\"${CC_aarch64_unknown_linux_gnu:-aarch64-linux-gnu-gcc}\"")
  fi
fi
toml_list="$(printf "'%s'," "${flags[@]}")"
# --config adds to the rustflags of .cargo/config.toml (arrays are merged), so the
# static flags there stay in force.
cargo build --release --locked --target "$target" \
  --config "target.$target.rustflags=[${toml_list%,}]" "${config[@]}" >&2
echo "$target_dir/$target/release/ci-registry-login"
