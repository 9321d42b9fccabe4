#!/usr/bin/env bash
# `make test`: installs what is missing, starts a private local stack (its own ports and state
# folder, so a running `make dev` is left alone), runs every check and test, stops the stack.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

export ZHIBO_STATE=${ZHIBO_STATE:-$PWD/.stack/test}
export ZHIBO_DYNAMO_PORT=${ZHIBO_TEST_DYNAMO_PORT:-18010}
export ZHIBO_S3_PORT=${ZHIBO_TEST_S3_PORT:-18443}
export ZHIBO_S3_MASTER_PORT=19443 ZHIBO_S3_VOLUME_PORT=19450 ZHIBO_S3_FILER_PORT=19898 ZHIBO_S3_ADMIN_PORT=19656

step() { printf '\n== %s (%ss)\n' "$*" "$(( $(date +%s) - started ))"; }

step "toolchain"
command -v cargo >/dev/null || { echo "cargo is missing: install Rust (https://rustup.rs)"; exit 1; }
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
for tool in curl openssl python3 ffmpeg nodejs; do
  command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$tool"; }
done
# HAProxy in front of several workers (media-worker/tests/cluster_e2e.rs, `make dev WORKERS=N`).
scripts/haproxy.sh install
# Chromium, playwright-core and hls.js, before the cargo tests: the worker's hops test
# (media-worker/tests/cluster_hops_e2e.rs) plays through them, as scripts/browser-test.sh does.
scripts/browser-deps.sh >/dev/null

# cfn-lint and the SAM CLI (which brings cfn-lint), in one venv in the cache.
sam_venv=${ZHIBO_CACHE:-$HOME/.cache/zhibo}/sam-venv
if ! command -v sam >/dev/null; then
  [ -x "$sam_venv/bin/sam" ] || { python3 -m venv "$sam_venv" && "$sam_venv/bin/pip" install -q aws-sam-cli cfn-lint; }
  sam() { "$sam_venv/bin/sam" "$@"; }
  command -v cfn-lint >/dev/null || cfn-lint() { "$sam_venv/bin/cfn-lint" "$@"; }
fi
export SAM_CLI_TELEMETRY=0

step "style: cargo fmt --check"
cargo fmt --all -- --check

step "template: cfn-lint template.yaml, sam validate --lint"
cfn-lint template.yaml
sam validate --lint --template template.yaml

step "local stack up"
trap 'scripts/stack.sh down || true' EXIT
# A fresh bucket store each run: tests create buckets, and SeaweedFS refuses writes ("no free
# volumes") once earlier runs' buckets have taken every volume.
scripts/stack.sh down >/dev/null 2>&1 || true
rm -rf "$ZHIBO_STATE/seaweedfs-data"
scripts/stack.sh up >/dev/null
eval "$(scripts/stack.sh env)"

step "lint: cargo clippy -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "dependencies: none unused (cargo machete)"
scripts/check-deps.sh

step "cargo test --workspace"
cargo test --workspace

step "README examples against \`zhibo serve\`"
scripts/smoke.sh

step "playback in headless Chromium (demo page, public and signed, live and replay)"
scripts/browser-test.sh

step "all green"
