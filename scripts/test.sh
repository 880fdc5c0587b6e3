#!/usr/bin/env bash
# Run every test: formatting and lints, the native tests (library, CLI, session), then the
# browser tests in headless Chromium against what `trunk build` produces. Installs what is
# missing first.
#
# Built for a cold 2-core machine (README.md has the figures):
# - each heavy crate (Burn, CubeCL, wgpu) is compiled once per target: clippy runs as the
#   compiler of this crate's own targets inside the real builds (RUSTC_WORKSPACE_WRAPPER, the
#   mechanism `cargo clippy` itself uses), not in separate `cargo clippy` passes that would
#   compile every dependency again in check mode;
# - the two tool installs (wasm-bindgen-cli, trunk) compile in the background from the start,
#   and the wasm build runs while the native tests do: each fills the other's idle core;
# - `trunk build` then finds the wasm already compiled and only assembles the site.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
target_dir="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
mkdir -p "$target_dir"

step() { printf '\n\033[1m== %s (at %d s)\033[0m\n' "$*" "$SECONDS"; }

# Background jobs: stopped if this script exits early; `finish NAME` waits for one and shows
# its log if it failed.
declare -A job_pid job_log
start_job() {
  local name="$1"; shift
  job_log[$name]="$target_dir/$name.log"
  "$@" >"${job_log[$name]}" 2>&1 &
  job_pid[$name]=$!
}
finish() {
  local name="$1"
  if ! wait "${job_pid[$name]}"; then
    cat "${job_log[$name]}"
    echo "$name failed (its log is above)" >&2
    exit 1
  fi
  unset "job_pid[$name]"
  echo "$name: done (log: ${job_log[$name]})"
}
stop_jobs() { for pid in "${job_pid[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap stop_jobs EXIT

# Clippy with warnings as errors, as the compiler of this crate's targets only.
with_clippy() {
  RUSTC_WORKSPACE_WRAPPER=clippy-driver \
    CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__" "$@"
}

step "set-up"
bash scripts/setup.sh test-system
start_job web-tools bash scripts/setup.sh web-tools

step "format"
cargo fmt --check

step "native build with clippy"
with_clippy cargo test --locked --no-run

step "native tests, while the wasm build (with clippy) runs in the background"
# The same two cargo builds trunk runs: the worker with Burn, the page without (index.html).
wasm_build() {
  with_clippy cargo build --locked --target wasm32-unknown-unknown --bin digit-lab-worker
  with_clippy cargo build --locked --target wasm32-unknown-unknown --bin digit-lab-app \
    --no-default-features
}
start_job wasm-build wasm_build
export DIGIT_LAB_REQUIRE_VULKAN=1 # setup installed lavapipe: the native wgpu test must run
with_clippy cargo test --locked

step "waiting for the wasm build and the web tools"
finish wasm-build
finish web-tools

step "trunk build (what \`trunk serve\` serves)"
web_dir="$target_dir/web-test"
with_clippy trunk build --dist "$web_dir"

step "browser tests (headless Chromium, against trunk's output)"
cd "$root/tests/browser"
# The native CLI (built above) checks that a browser submission equals its own.
DIGIT_LAB_CLI="$target_dir/debug/digit-lab" DIGIT_LAB_DIST="$web_dir" \
  node --test --test-concurrency=1 ./*.test.mjs
step "done"
