#!/usr/bin/env bash
# Playback in a real browser (issue 6), on the running local stack (`make test` runs it after
# the cargo tests; by hand: `eval "$(scripts/stack.sh env)"` first). Starts two `zhibo serve`
# (public mode on one port, signed mode on another, same table and bucket) and the media
# worker, publishes an ffmpeg test pattern, and runs tests/browser/playback.mjs in headless
# Chromium (playwright-core) against the demo page: live in both modes (and its HTTP-FLV from the
# worker with mpegts.js) and its chat (a message sent and received over the realtime channel,
# a like), tampered and expired signed URLs refused with a message, then the
# replay in both modes once the stream ended; then glass-to-glass latency, FLV next to HLS
# (tests/browser/latency.mjs).
# Screenshots: target/browser-artifacts/ (not committed).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${ZHIBO_DYNAMO_ENDPOINT:?run inside make test, or eval \"\$(scripts/stack.sh env)\" first}"
state=${ZHIBO_STATE:-.stack}/browser
artifacts=${ZHIBO_BROWSER_ARTIFACTS:-$PWD/target/browser-artifacts}
rm -rf "$state" && mkdir -p "$state" "$artifacts"

# What the browser needs: Chromium (Debian's package), playwright-core, hls.js and mpegts.js
# (npm, pinned).
deps=$(scripts/browser-deps.sh)
while IFS='=' read -r key value; do export "$key=$value"; done <<<"$deps"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
public_port=$(free_port) signed_port=$(free_port) rtmp_port=$(free_port) worker_http=$(free_port)
export ZHIBO_TABLE=zhibo_browser_$RANDOM MIN_START_LEAD_S=0
export PUSH_KEY=browser-push-$RANDOM$RANDOM$RANDOM$RANDOM HOOK_SECRET=browser-hook-$RANDOM$RANDOM$RANDOM$RANDOM
export PLAY_KEY=browser-play-$RANDOM$RANDOM$RANDOM$RANDOM INGEST_HOST=127.0.0.1:$rtmp_port
cargo build -q -p zhibo-cli -p zhibo-media-worker
target/debug/zhibo init-storage >/dev/null

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
# The public API also serves the realtime channel (viewer tokens, chat, likes).
PLAY_HOST=http://127.0.0.1:$worker_http VIEWER_TOKEN_KEY=browser-viewer-$RANDOM$RANDOM$RANDOM$RANDOM \
  REALTIME_WS_URL=ws://127.0.0.1:$public_port/event/realtime REALTIME_HTTP_URL=http://127.0.0.1:$public_port/event \
  REALTIME_PUBLISH_KEY=browser-publish-$RANDOM$RANDOM$RANDOM$RANDOM \
  target/debug/zhibo serve --addr "127.0.0.1:$public_port" --dev-app browser1 --env-file "$state/app.env" \
  >"$state/public.log" 2>&1 &
pids+=($!)
PLAYBACK_MODE=signed API_BASE_URL=http://127.0.0.1:$signed_port \
  target/debug/zhibo serve --addr "127.0.0.1:$signed_port" --dev-app browser1 \
  >"$state/signed.log" 2>&1 &
pids+=($!)
ZHIBO_RTMP_ADDR=$INGEST_HOST ZHIBO_HTTP_ADDR=127.0.0.1:$worker_http ZHIBO_SINK=s3 \
  ZHIBO_RECONNECT_WINDOW_S=3 ZHIBO_SPILL_DIR="$state/spill" \
  ZHIBO_HOOK_URL="http://127.0.0.1:$public_port/internal/hooks" \
  target/debug/zhibo-media-worker >"$state/worker.log" 2>&1 &
pids+=($!)
for log in public signed; do
  for _ in $(seq 150); do grep -q "listening" "$state/$log.log" 2>/dev/null && break; sleep 0.1; done
  grep -q "listening" "$state/$log.log" || { cat "$state/$log.log"; exit 1; }
done
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$worker_http/healthz" >/dev/null && break; sleep 0.1; done
set -a; . "$state/app.env"; set +a

now=$(date +%s)
room=$(scripts/zhibo-call.py POST /v1/rooms "{\"name\":\"browser\",\"cover_img\":\"https://example.com/c.jpg\",\"anchor_name\":\"test\",\"start_time\":$((now + 60)),\"end_time\":$((now + 3600))}" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["room_id"])')
push_url=$(scripts/zhibo-call.py POST "/v1/rooms/$room/push-url" '{"expires_in":3600}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["push_url"])')
ffmpeg -hide_banner -loglevel error -nostdin -re \
  -f lavfi -i testsrc2=size=640x360:rate=30 -f lavfi -i sine=frequency=1000:sample_rate=44100 \
  -t 75 -c:v libx264 -preset veryfast -g 30 -pix_fmt yuv420p -c:a aac -f flv "$push_url" \
  >"$state/ffmpeg.log" 2>&1 &
ffmpeg_pid=$!
pids+=($ffmpeg_pid)
live="$ZHIBO_S3_ENDPOINT/$MEDIA_BUCKET/live/$ZHIBO_APP_ID/$room/index.m3u8"
for _ in $(seq 300); do
  [ "$(curl -fs "$live" | grep -c '\.ts$' || true)" -ge 3 ] && break
  sleep 0.2
done
curl -fs "$live" >/dev/null || { echo "no live playlist at $live"; cat "$state/worker.log"; exit 1; }

export PUBLIC_BASE=http://127.0.0.1:$public_port FLV_BASE=http://127.0.0.1:$worker_http \
  SIGNED_BASE=http://127.0.0.1:$signed_port ROOM_ID=$room APP_ID=$ZHIBO_APP_ID ARTIFACTS=$artifacts
node tests/browser/playback.mjs live

# The stream ends; after the reconnect window the replay lands and is indexed.
wait "$ffmpeg_pid" || { echo "ffmpeg failed:"; cat "$state/ffmpeg.log"; exit 1; }
replay=""
for _ in $(seq 150); do
  replay=$(scripts/zhibo-call.py GET "/v1/rooms/$room/replays" 2>/dev/null |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["replays"]; print(r[0]["replay_id"] if r else "")' || true)
  [ -n "$replay" ] && break
  sleep 0.2
done
[ -n "$replay" ] || { echo "the replay was not indexed"; tail -20 "$state/public.log"; exit 1; }
REPLAY_ID=$replay node tests/browser/playback.mjs replay

# Glass-to-glass latency, HTTP-FLV next to HLS (tests/browser/latency.mjs): a second live whose
# frames carry the publisher's wall clock (tests/browser/clock_source.py), encoded as an anchor's
# encoder would (x264 veryfast, zerolatency, 2 s GOP, 1.5 Mbit/s).
now=$(date +%s)
lat_room=$(scripts/zhibo-call.py POST /v1/rooms "{\"name\":\"latency\",\"cover_img\":\"https://example.com/c.jpg\",\"anchor_name\":\"test\",\"start_time\":$((now + 60)),\"end_time\":$((now + 3600))}" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["room_id"])')
lat_push=$(scripts/zhibo-call.py POST "/v1/rooms/$lat_room/push-url" '{"expires_in":3600}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["push_url"])')
python3 tests/browser/clock_source.py --seconds 120 2>"$state/clock.log" |
  ffmpeg -hide_banner -loglevel error -nostdin -f rawvideo -pix_fmt yuv420p -s 640x360 -r 30 -i pipe:0 \
    -c:v libx264 -preset veryfast -tune zerolatency -g 60 -b:v 1500k -maxrate 1500k -bufsize 1500k \
    -pix_fmt yuv420p -f flv "$lat_push" >"$state/ffmpeg-latency.log" 2>&1 &
pids+=($!)
lat_live="$ZHIBO_S3_ENDPOINT/$MEDIA_BUCKET/live/$ZHIBO_APP_ID/$lat_room/index.m3u8"
for _ in $(seq 300); do
  [ "$(curl -fs "$lat_live" | grep -c '\.ts$' || true)" -ge 3 ] && break
  sleep 0.2
done
curl -fs "$lat_live" >/dev/null || { echo "no live playlist at $lat_live"; cat "$state/ffmpeg-latency.log"; exit 1; }
LAT_FLV_URL=$(scripts/zhibo-call.py GET "/v1/rooms/$lat_room/play-urls" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["flv"])') \
  LAT_HLS_URL=$lat_live node tests/browser/latency.mjs
