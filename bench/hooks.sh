#!/usr/bin/env bash
# Publish-hook latency (issue 4): signed publish hooks at fixed open-loop rates against the API
# on DynamoDB Local, and in the same run, at the same rate, DynamoDB Local alone doing a
# transaction of the same shape (the peer) and a GetItem (the floor).
#
#   bench/hooks.sh ["200 100 50"] [seconds=30] [apps=20]
#
# Each rate gets a fresh private DynamoDB Local (scripts/stack.sh with its own ports and state
# folder; DynamoDB Local slows down as it fills), builds in release, prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
rates=${1:-200 100 50}
export ZHIBO_STATE=$PWD/.stack/bench-hooks ZHIBO_DYNAMO_PORT=18090 ZHIBO_S3_PORT=18493 \
  ZHIBO_S3_MASTER_PORT=19493 ZHIBO_S3_VOLUME_PORT=19500 ZHIBO_S3_FILER_PORT=19948 ZHIBO_S3_ADMIN_PORT=19706
trap 'scripts/stack.sh down >/dev/null 2>&1 || true' EXIT
cargo build --release --quiet -p zhibo-e2e-tests --example hook_latency
for rate in $rates; do
  scripts/stack.sh down >/dev/null 2>&1 || true
  scripts/stack.sh up >/dev/null
  eval "$(scripts/stack.sh env)"
  RUST_LOG=warn target/release/examples/hook_latency "$rate" "${2:-30}" "${3:-20}"
done
