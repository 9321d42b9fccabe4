#!/usr/bin/env bash
# Publish-hook latency (issue 4): signed publish hooks at a fixed rate against the API on
# DynamoDB Local, with the DynamoDB Local GetItem round trip at the same rate as the floor.
#
#   bench/hooks.sh [rate=200] [seconds=30] [apps=20]
#
# Starts a private DynamoDB Local (scripts/stack.sh with its own ports and state folder) unless
# ZHIBO_DYNAMO_ENDPOINT is already set, builds in release, prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${ZHIBO_DYNAMO_ENDPOINT:-}" ]; then
  export ZHIBO_STATE=$PWD/.stack/bench-hooks ZHIBO_DYNAMO_PORT=18090 ZHIBO_S3_PORT=18493 \
    ZHIBO_S3_MASTER_PORT=19493 ZHIBO_S3_VOLUME_PORT=19500 ZHIBO_S3_FILER_PORT=19948 ZHIBO_S3_ADMIN_PORT=19706
  trap 'scripts/stack.sh down || true' EXIT
  scripts/stack.sh up >/dev/null
  eval "$(scripts/stack.sh env)"
fi
cargo build --release --quiet -p zhibo-e2e-tests --example hook_latency
RUST_LOG=warn target/release/examples/hook_latency "${1:-200}" "${2:-30}" "${3:-20}"
