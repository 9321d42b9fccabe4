#!/usr/bin/env bash
# The README's worked example: create a room with curl, signing with openssl.
# env: ZHIBO_API, ZHIBO_APP_ID, ZHIBO_APP_SECRET (`make dev` writes them to .stack/dev-app.env)
set -euo pipefail
: "${ZHIBO_API:=http://127.0.0.1:18080}" "${ZHIBO_APP_ID:?}" "${ZHIBO_APP_SECRET:?}"
start=$(( $(date +%s) + 3600 ))
body="{\"name\":\"首播\",\"anchor_name\":\"李四\",\"start_time\":$start,\"end_time\":$(( start + 7200 ))}"
ts=$(date +%s)
nonce=$(openssl rand -hex 12)
body_hash=$(printf '%s' "$body" | openssl dgst -sha256 -hex | sed 's/^.* //')
# METHOD \n PATH \n CANONICAL_QUERY (empty here) \n TIMESTAMP \n NONCE \n hex(SHA256(body))
sig=$(printf 'POST\n/v1/rooms\n\n%s\n%s\n%s' "$ts" "$nonce" "$body_hash" \
      | openssl dgst -sha256 -hmac "$ZHIBO_APP_SECRET" -hex | sed 's/^.* //')
curl -sS --fail-with-body -X POST "$ZHIBO_API/v1/rooms" \
  -H "Content-Type: application/json" \
  -H "X-Zhibo-App: $ZHIBO_APP_ID" -H "X-Zhibo-Timestamp: $ts" \
  -H "X-Zhibo-Nonce: $nonce" -H "X-Zhibo-Signature: $sig" \
  -d "$body"
echo
