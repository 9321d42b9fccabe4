#!/usr/bin/env bash
# Runs the README's worked examples (curl + openssl, and scripts/zhibo-call.py) against a real
# `zhibo serve` on the running local stack (needs `eval "$(scripts/stack.sh env)"` first).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${ZHIBO_DYNAMO_ENDPOINT:?run inside make test, or eval \"\$(scripts/stack.sh env)\" first}"
state=${ZHIBO_STATE:-.stack}
mkdir -p "$state"
port=${ZHIBO_SMOKE_PORT:-18090}
export ZHIBO_TABLE=zhibo_smoke_$RANDOM MIN_START_LEAD_S=0
rtmp_port=${ZHIBO_SMOKE_RTMP_PORT:-18091}
export PUSH_KEY=smoke-push-key-$RANDOM$RANDOM$RANDOM INGEST_HOST=127.0.0.1:$rtmp_port
export HOOK_SECRET=smoke-hook-secret-$RANDOM$RANDOM$RANDOM
cargo build -q -p zhibo-cli -p zhibo-media-worker
target/debug/zhibo init-storage
target/debug/zhibo serve --addr "127.0.0.1:$port" --dev-app smoke1 --env-file "$state/smoke-app.env" \
  >"$state/smoke-serve.log" 2>&1 &
pid=$!
ZHIBO_RTMP_ADDR=$INGEST_HOST ZHIBO_HTTP_ADDR=127.0.0.1:$((rtmp_port + 1)) ZHIBO_SINK=s3 \
  ZHIBO_RECONNECT_WINDOW_S=1 ZHIBO_SPILL_DIR="$state/smoke-spill" \
  ZHIBO_HOOK_URL="http://127.0.0.1:$port/internal/hooks" \
  target/debug/zhibo-media-worker >"$state/smoke-worker.log" 2>&1 &
worker=$!
trap 'kill $pid $worker 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q "listening" "$state/smoke-serve.log" 2>/dev/null && break
  kill -0 $pid 2>/dev/null || { cat "$state/smoke-serve.log"; exit 1; }
  sleep 0.1
done
set -a; . "$state/smoke-app.env"; set +a

echo "-- scripts/curl-example.sh"
created=$(scripts/curl-example.sh)
echo "$created"
room_id=$(printf '%s' "$created" | python3 -c 'import json,sys; print(json.load(sys.stdin)["room_id"])')

echo "-- scripts/zhibo-call.py GET /v1/rooms/$room_id/status"
# (no `tee /dev/stderr`: it would reopen, and truncate, a log file that stderr points to)
status=$(scripts/zhibo-call.py GET "/v1/rooms/$room_id/status")
echo "$status"
grep -q '"live_status":102' <<<"$status"
echo "-- scripts/zhibo-call.py GET /v1/rooms?start=0&limit=10"
scripts/zhibo-call.py GET "/v1/rooms?start=0&limit=10" | grep -q '"total":1'
echo "-- a bad signature is refused"
if ZHIBO_APP_SECRET=wrong scripts/zhibo-call.py GET /v1/rooms 2>/dev/null; then
  echo "a wrong secret was accepted"; exit 1
fi

echo "-- push with the push_url from the API (as make dev prints), play the HLS URL"
push_url=$(scripts/zhibo-call.py POST "/v1/rooms/$room_id/push-url" '{"expires_in":600}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["push_url"])')
ffmpeg -hide_banner -loglevel error -nostdin -re -f lavfi -i testsrc2=size=320x240:rate=30 \
  -f lavfi -i sine=frequency=440 -t 6 -c:v libx264 -preset ultrafast -g 30 -c:a aac -f flv "$push_url"
hls="$ZHIBO_S3_ENDPOINT/$MEDIA_BUCKET/live/$ZHIBO_APP_ID/$room_id/index.m3u8"
codecs=$(ffprobe -v error -show_entries stream=codec_name -of csv=p=0 "$hls" | sort -u | tr '\n' ' ')
echo "codecs: $codecs"
grep -q "aac h264" <<<"$codecs"
echo "-- the worker's hooks drove the room's status: live, then abnormal once ffmpeg stopped"
for _ in $(seq 50); do
  status=$(scripts/zhibo-call.py GET "/v1/rooms/$room_id/status")
  grep -q '"live_status":106' <<<"$status" && break
  sleep 0.2
done
echo "$status"
grep -q '"live_status":106' <<<"$status"
grep -q 'live_status 102 -> 101' "$state/smoke-serve.log"
echo "smoke: ok"
