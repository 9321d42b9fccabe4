#!/usr/bin/env bash
# Audience interaction (issue 17): message POST -> received by a subscriber at a fixed open-loop
# rate into one room, with zhibo's store append alone and the bare DynamoDB PutItem of the same
# item as the floor in the same run; then likes at 10,000 taps/s into one room, the final total
# checked exactly and the DynamoDB writes counted by a proxy in front of DynamoDB Local.
# See bench/README.md, "Audience interaction: messages and likes".
#
#   bench/audience.sh
#
# Builds `zhibo` (the cli: `zhibo serve`) and `zhibo-audience-bench` in release, starts a private
# DynamoDB Local (scripts/stack.sh with its own ports and state folder; SeaweedFS is stopped
# right away, nothing here uses S3), runs the bench, stops DynamoDB Local. The markdown report
# goes to stdout, progress to stderr, rows to bench/results/audience-<time>.jsonl. About 5 min
# of run time with the defaults, after the build.
#
# Settings (environment; defaults in brackets):
#   BENCH_AUD_RATES="200 50"          message rates into the room (one fresh room per rate)
#   BENCH_AUD_SECONDS=20              measured window of each message row (s)
#   BENCH_AUD_WARMUP=5                warm-up at the same rate before the window (s)
#   BENCH_AUD_FLOOR_SECONDS=10        window of each floor row (zhibo serve stopped by then)
#   BENCH_AUD_USERS=1.5 x rate        users posting in turn (the per-user limit is 1/s, burst 5)
#   BENCH_AUD_ROOM_MESSAGES_PER_S=1000  the server's per-room flood control (ROOM_MESSAGES_PER_S)
#   BENCH_AUD_LIKE_TAPS_PER_S=10000   taps per second into the likes room
#   BENCH_AUD_LIKE_SECONDS=20         likes window (s)
#   BENCH_AUD_LIKE_USERS="200 50"     users tapping, one likes run (fresh room) per value
#   BENCH_AUD_LIKE_FLUSH_MS=500       each user's batch interval (the demo page's and the
#                                     mini-program's: one POST per 500 ms with the taps since)
#   BENCH_AUD_SERVER_ENV=             extra NAME=VALUE words for `zhibo serve`
#   BENCH_AUD_BUILD=1                 0: use the binaries as they are
#   BENCH_AUD_OUT=bench/results/audience-<time>.jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
[[ $TARGET_DIR == /* ]] || TARGET_DIR=$REPO/$TARGET_DIR

export ZHIBO_STATE=$REPO/.stack/bench-audience ZHIBO_DYNAMO_PORT=18092 ZHIBO_S3_PORT=18495 \
  ZHIBO_S3_MASTER_PORT=19495 ZHIBO_S3_VOLUME_PORT=19502 ZHIBO_S3_FILER_PORT=19950 ZHIBO_S3_ADMIN_PORT=19708
mkdir -p "$ZHIBO_STATE" bench/results
export BENCH_AUD_OUT=${BENCH_AUD_OUT:-$REPO/bench/results/audience-$(date +%Y%m%dT%H%M%S).jsonl}
export BENCH_AUD_SERVE_BIN=$TARGET_DIR/release/zhibo BENCH_AUD_LOG=$ZHIBO_STATE/serve.log

if [[ ${BENCH_AUD_BUILD:-1} != 0 ]]; then
  echo "audience-bench: cargo build --release -p zhibo-cli -p zhibo-audience-bench" >&2
  cargo build --release --quiet -p zhibo-cli -p zhibo-audience-bench
fi

trap 'scripts/stack.sh down >/dev/null 2>&1 || true' EXIT
scripts/stack.sh down >/dev/null 2>&1 || true
scripts/stack.sh up >/dev/null
scripts/stack.sh s3-stop >/dev/null 2>&1 || true
eval "$(scripts/stack.sh env)"
# DynamoDB Local's process group, for its CPU time.
BENCH_AUD_DYNAMO_PID=$(cat "$ZHIBO_STATE/dynamodb.pid" 2>/dev/null || true)
export BENCH_AUD_DYNAMO_PID
echo "audience-bench: $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$TARGET_DIR/release/zhibo-audience-bench"
