#!/usr/bin/env bash
# `make dev`: the whole local stack in the foreground (Ctrl-C stops everything it started):
# DynamoDB Local + SeaweedFS, the table and bucket, and the API serving every function's routes.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${ZHIBO_API_PORT:-18080}
scripts/stack.sh up >/dev/null
eval "$(scripts/stack.sh env)"
export ZHIBO_TABLE=${ZHIBO_TABLE:-zhibo} MIN_START_LEAD_S=${MIN_START_LEAD_S:-0}
trap 'scripts/stack.sh down' EXIT
cargo build -q -p zhibo-cli
target/debug/zhibo init-storage
cat <<MSG

zhibo is starting on http://127.0.0.1:$port
  DynamoDB Local  $ZHIBO_DYNAMO_ENDPOINT   (table $ZHIBO_TABLE)
  S3 (SeaweedFS)  $ZHIBO_S3_ENDPOINT   (bucket $MEDIA_BUCKET, anonymous read)

Call it (credentials are written to .stack/dev-app.env):
  set -a; . .stack/dev-app.env; set +a
  scripts/curl-example.sh                                  # create a room with curl + openssl
  scripts/zhibo-call.py GET '/v1/rooms?start=0&limit=10'   # list rooms
  curl "\$ZHIBO_API/cgi-bin/token?grant_type=client_credential&appid=\$ZHIBO_APP_ID&secret=\$ZHIBO_APP_SECRET"

MSG
target/debug/zhibo serve --addr "127.0.0.1:$port" --dev-app demo --env-file .stack/dev-app.env
