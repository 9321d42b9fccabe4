#!/usr/bin/env bash
# `make dev`: the whole local stack in the foreground (Ctrl-C stops everything it started):
# DynamoDB Local + SeaweedFS, the table and bucket, the API serving every function's routes,
# and the media worker (RTMP in, HLS into the bucket). Prints how to push and play.
#
# WORKERS=N (default 1): with N >= 2, N media workers (distinct ZHIBO_WORKER_ID dev-1..dev-N,
# RTMP ports ZHIBO_WORKER_RTMP_BASE+1.., default 19401.., /healthz and /metrics on
# ZHIBO_WORKER_HTTP_PORT.., default 19351..) behind HAProxy on the push URL's port
# (ZHIBO_RTMP_PORT, default 1935): TCP, round robin, health-checked on /healthz, as the NLB is
# in AWS (scripts/haproxy.sh installs HAProxy from the distribution's packages if missing).
# HTTP-FLV viewers go through HAProxy too (ZHIBO_PLAY_PORT, default 19350), and whichever
# worker they reach plays the live (edge relay, each worker's ZHIBO_RELAY_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
port=${ZHIBO_API_PORT:-18080}
rtmp_port=${ZHIBO_RTMP_PORT:-1935}
worker_http=${ZHIBO_WORKER_HTTP_PORT:-19351}
workers=${WORKERS:-1}
play_port=${ZHIBO_PLAY_PORT:-19350}
worker_rtmp_base=${ZHIBO_WORKER_RTMP_BASE:-19400}
case $workers in
  '' | *[!0-9]* | 0) echo "make dev: WORKERS=$workers is invalid: expected a number of media workers, 1 or more" >&2; exit 2 ;;
esac
[ "$workers" -ge 2 ] && scripts/haproxy.sh install
scripts/stack.sh up >/dev/null
eval "$(scripts/stack.sh env)"
state=${ZHIBO_STATE:-.stack}
export ZHIBO_TABLE=${ZHIBO_TABLE:-zhibo} MIN_START_LEAD_S=${MIN_START_LEAD_S:-0}

# The push key is made once per checkout and kept out of the repo (.stack/ is gitignored).
secrets=$state/dev-secrets.env
[ -f "$secrets" ] || printf 'PUSH_KEY=%s\n' "$(openssl rand -hex 24)" >"$secrets"
grep -q '^HOOK_SECRET=' "$secrets" || printf 'HOOK_SECRET=%s\n' "$(openssl rand -hex 24)" >>"$secrets"
grep -q '^PLAY_KEY=' "$secrets" || printf 'PLAY_KEY=%s\n' "$(openssl rand -hex 24)" >>"$secrets"
grep -q '^VIEWER_TOKEN_KEY=' "$secrets" || printf 'VIEWER_TOKEN_KEY=%s\n' "$(openssl rand -hex 24)" >>"$secrets"
grep -q '^REALTIME_PUBLISH_KEY=' "$secrets" || printf 'REALTIME_PUBLISH_KEY=%s\n' "$(openssl rand -hex 24)" >>"$secrets"
set -a; . "$secrets"; set +a
# Webhooks to local receivers (http://127.0.0.1:...) are fine in development. HTTP-FLV URLs
# (play-urls' flv) point at the worker's HTTP port, or at HAProxy's play port with WORKERS>=2.
play_host=http://127.0.0.1:$worker_http
[ "$workers" -ge 2 ] && play_host=http://127.0.0.1:$play_port
export INGEST_HOST=127.0.0.1:$rtmp_port WEBHOOK_ALLOW_HTTP=1 PLAY_HOST=$play_host
# Viewer tokens and the realtime channel: zhibo serve speaks AppSync Events' protocol itself.
export REALTIME_WS_URL=ws://127.0.0.1:$port/event/realtime REALTIME_HTTP_URL=http://127.0.0.1:$port/event

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  scripts/stack.sh down
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cargo build -q -p zhibo-cli -p zhibo-media-worker
target/debug/zhibo init-storage
# The demo page's hls.js and mpegts.js (pinned, into the cache; served at /demo/hls.min.js and
# /demo/mpegts.js).
ZHIBO_HLSJS=$(scripts/web-deps.sh)
ZHIBO_MPEGTSJS=$(scripts/web-deps.sh --mpegts)
export ZHIBO_HLSJS ZHIBO_MPEGTSJS

target/debug/zhibo serve --addr "127.0.0.1:$port" --dev-app demo --env-file "$state/dev-app.env" \
  > >(tee "$state/api.log") 2>&1 &
pids+=($!)
# start_worker ID RTMP_PORT HTTP_PORT LOG SPILL (an empty ID: the worker's default, the host name)
start_worker() {
  local id=()
  [ -n "$1" ] && id=("ZHIBO_WORKER_ID=$1")
  env "${id[@]}" ZHIBO_RTMP_ADDR=127.0.0.1:$2 ZHIBO_HTTP_ADDR=127.0.0.1:$3 ZHIBO_SINK=s3 \
    ZHIBO_SPILL_DIR="$5" RUST_LOG=${RUST_LOG:-info} ZHIBO_RELAY_URL="http://127.0.0.1:$3" \
    ZHIBO_HOOK_URL="http://127.0.0.1:$port/internal/hooks" \
    target/debug/zhibo-media-worker > >(tee "$4") 2>&1 &
  pids+=($!)
}
health_ports=()
if [ "$workers" -eq 1 ]; then
  start_worker "${ZHIBO_WORKER_ID:-}" "$rtmp_port" "$worker_http" "$state/worker.log" "$state/spill"
  health_ports+=("$worker_http")
else
  backends=()
  for i in $(seq "$workers"); do
    start_worker "dev-$i" "$((worker_rtmp_base + i))" "$((worker_http + i - 1))" "$state/worker-$i.log" "$state/spill-$i"
    health_ports+=("$((worker_http + i - 1))")
    backends+=("$((worker_rtmp_base + i)):$((worker_http + i - 1))")
  done
  # The push URL's port: HAProxy, round robin over the workers (the NLB's part in AWS).
  PLAY_PORT=$play_port scripts/haproxy.sh run "$state/haproxy" "$rtmp_port" "${backends[@]}" 2> >(tee "$state/haproxy.log" >&2) &
  pids+=($!)
fi

for _ in $(seq 100); do
  up=1
  for h in "${health_ports[@]}"; do curl -fs "http://127.0.0.1:$h/healthz" >/dev/null || up=0; done
  grep -q "listening" "$state/api.log" 2>/dev/null && [ "$up" = 1 ] && break
  sleep 0.2
done
for p in "${pids[@]}"; do
  kill -0 "$p" 2>/dev/null || { echo "make dev: a process failed to start (logs above; $state/api.log, $state/worker*.log, $state/haproxy.log)" >&2; exit 1; }
done
set -a; . "$state/dev-app.env"; set +a

# A room to push to right away.
now=$(date +%s)
room=$(scripts/zhibo-call.py POST /v1/rooms "{\"name\":\"make dev\",\"cover_img\":\"https://example.com/c.jpg\",\"anchor_name\":\"dev\",\"start_time\":$((now + 60)),\"end_time\":$((now + 6 * 3600))}" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["room_id"])')
push_url=$(scripts/zhibo-call.py POST "/v1/rooms/$room/push-url" '{"expires_in":86400}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["push_url"])')
hls="$ZHIBO_S3_ENDPOINT/$MEDIA_BUCKET/live/$ZHIBO_APP_ID/$room/index.m3u8"
flv=$(scripts/zhibo-call.py GET "/v1/rooms/$room/play-urls" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["flv"])')

if [ "$workers" -eq 1 ]; then
  ingest_note="(worker metrics: http://127.0.0.1:$worker_http/metrics)"
else
  ingest_note="(HAProxy, round robin over $workers workers)"
  for i in $(seq "$workers"); do
    ingest_note+="
    worker dev-$i   rtmp://127.0.0.1:$((worker_rtmp_base + i))/live/   metrics http://127.0.0.1:$((worker_http + i - 1))/metrics   log $state/worker-$i.log"
  done
fi
cat <<MSG

zhibo is running (Ctrl-C stops everything)
  API             http://127.0.0.1:$port           (credentials: .stack/dev-app.env)
  RTMP ingest     rtmp://127.0.0.1:$rtmp_port/live/    $ingest_note
  DynamoDB Local  $ZHIBO_DYNAMO_ENDPOINT   (table $ZHIBO_TABLE)
  S3 (SeaweedFS)  $ZHIBO_S3_ENDPOINT   (bucket $MEDIA_BUCKET, anonymous read)

Room $room is ready. Push a test pattern with ffmpeg:
  ffmpeg -re -f lavfi -i testsrc2=size=640x360:rate=30 -f lavfi -i sine=frequency=440 \\
    -c:v libx264 -preset veryfast -g 60 -c:a aac -f flv '$push_url'
or in OBS: Settings > Stream > Custom, Server rtmp://127.0.0.1:$rtmp_port/live/ and Stream Key
  ${push_url#rtmp://127.0.0.1:$rtmp_port/live/}

Play it (a couple of seconds after the push starts):
  Demo page       http://127.0.0.1:$port/demo/?room=$room   (rooms, push command, live and replay playback)
  ffplay '$hls'
  $hls
  HTTP-FLV (what <live-player> plays; low latency):
  ffplay -fflags nobuffer '$flv'

Audience: a viewer token for one of your users, with the room's realtime channel (AppSync Events
protocol, served by zhibo serve at ws://127.0.0.1:$port/event/realtime):
  scripts/zhibo-call.py POST /v1/rooms/$room/viewer-tokens '{"user_id":"u1","nickname":"dev"}'

After the push stops and the reconnect window (ZHIBO_RECONNECT_WINDOW_S, 900 s by default) closes, its replay is indexed:
  scripts/zhibo-call.py GET /v1/rooms/$room/replays

Call the API:
  set -a; . .stack/dev-app.env; set +a
  scripts/curl-example.sh                                  # create a room with curl + openssl
  scripts/zhibo-call.py GET '/v1/rooms?start=0&limit=10'   # list rooms
  scripts/zhibo-call.py POST /v1/rooms/$room/push-url '{"expires_in":3600}'
  scripts/zhibo-call.py GET /v1/rooms/$room/status         # 101 while you push, 106 after
  scripts/zhibo-call.py POST /v1/rooms/$room/actions '{"action":"pause"}'   # or resume, ban, end
  scripts/zhibo-call.py PUT /v1/webhook '{"url":"http://127.0.0.1:9000/hook"}'  # signed events

MSG
wait -n "${pids[@]}" || true
echo "make dev: the API, a worker or HAProxy stopped (see $state/api.log, $state/worker*.log, $state/haproxy.log); stopping the rest" >&2
exit 1
