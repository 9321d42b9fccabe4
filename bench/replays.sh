#!/usr/bin/env bash
# Replay indexing (issue 5): a 12-hour replay playlist (21,600 segments) in SeaweedFS, from the
# S3 ObjectCreated event to the replay being queryable in DynamoDB Local; the local
# notification path; and, in the same run, the floor (GetObject + PutItem, no zhibo code).
#
#   bench/replays.sh [runs=10] [segments=21600]
#
# Uses a private stack (its own ports and state folder), builds in release, prints a markdown
# table. BENCH_WITHOUT_METADATA=1 adds the fallback that lists the segments (uploads 21,600
# small objects first).
set -euo pipefail
cd "$(dirname "$0")/.."
export ZHIBO_STATE=$PWD/.stack/bench-replays ZHIBO_DYNAMO_PORT=18091 ZHIBO_S3_PORT=18494 \
  ZHIBO_S3_MASTER_PORT=19494 ZHIBO_S3_VOLUME_PORT=19501 ZHIBO_S3_FILER_PORT=19949 ZHIBO_S3_ADMIN_PORT=19707
trap 'scripts/stack.sh down >/dev/null 2>&1 || true' EXIT
cargo build --release --quiet -p zhibo-e2e-tests --example replay_index
scripts/stack.sh down >/dev/null 2>&1 || true
rm -rf "$ZHIBO_STATE/seaweedfs-data"
scripts/stack.sh up >/dev/null
eval "$(scripts/stack.sh env)"
echo "machine: $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ)"
RUST_LOG=warn target/release/examples/replay_index "${1:-10}" "${2:-21600}"
