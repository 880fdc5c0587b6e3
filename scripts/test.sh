#!/usr/bin/env bash
# Run every test: formatting and lints, the native tests (library, CLI, session), then the
# browser tests in headless Chromium against a fresh wasm build. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
export DIGIT_LAB_REQUIRE_VULKAN=1 # setup installed lavapipe: the native wgpu test must run

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "format and lints"
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
cargo clippy --locked --target wasm32-unknown-unknown --bins -- -D warnings

step "native tests"
cargo test --locked

step "browser build"
web_dir="$(realpath -m "${CARGO_TARGET_DIR:-target}/web-test")"
bash scripts/build-web.sh "$web_dir" debug

step "browser tests (headless Chromium)"
cd tests/browser
DIGIT_LAB_DIST="$web_dir" node --test --test-concurrency=1 ./*.test.mjs
