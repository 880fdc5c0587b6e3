#!/usr/bin/env bash
# Build the Web Worker (bin digit-lab-worker) for the browser into OUT_DIR.
# Trunk runs this as a post-build hook (TRUNK_STAGING_DIR, TRUNK_PROFILE), or by hand:
# build-worker.sh OUT_DIR [debug|release]. In release, the page's wasm (already in the staging
# dir) and the worker's lose their name sections. `build-worker.sh --compile-only
# [debug|release]` only compiles it (prebuild-release.sh, before wasm-bindgen is installed).
set -euo pipefail
out="${1:-${TRUNK_STAGING_DIR:?usage: build-worker.sh OUT_DIR|--compile-only [debug|release]}}"
profile="${2:-${TRUNK_PROFILE:-debug}}"
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
# Release builds use Cargo.toml's web-release profile (release, kernel-building crates for size).
case "$profile" in
  release) cargo_profile=web-release output=web-release ;;
  *) cargo_profile=dev output=debug ;;
esac
cargo build --locked --target wasm32-unknown-unknown --bin digit-lab-worker --profile "$cargo_profile"
if [ "$out" = --compile-only ]; then exit 0; fi
mkdir -p "$out"
wasm-bindgen --target web --no-typescript --out-dir "$out" --out-name digit-lab-worker \
  "$target_dir/wasm32-unknown-unknown/$output/digit-lab-worker.wasm"
if [ "$profile" = release ]; then python3 scripts/strip-wasm-names.py "$out"/*_bg.wasm; fi
