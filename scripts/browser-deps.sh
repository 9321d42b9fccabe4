#!/usr/bin/env bash
# What the browser tests need, installed if missing: Chromium (Debian's package),
# playwright-core (npm, pinned), hls.js and mpegts.js (pinned, scripts/web-deps.sh), in the cache
# ${ZHIBO_CACHE:-$HOME/.cache/zhibo}. Idempotent and quick when everything is there.
# Prints one KEY=VALUE line each (read them line by line; values are not quoted):
#   CHROMIUM=         the Chromium executable
#   PLAYWRIGHT_CORE=  playwright-core's package.json (createRequire from it)
#   ZHIBO_HLSJS=      hls.min.js
#   ZHIBO_MPEGTSJS=   mpegts.js
# Used by scripts/browser-test.sh, scripts/test.sh (before the cargo tests) and the worker's
# cluster hops test (media-worker/tests/cluster_hops_e2e.rs). Install messages go to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${ZHIBO_CACHE:-$HOME/.cache/zhibo}

chromium=${CHROMIUM:-$(command -v chromium || true)}
if [ -z "$chromium" ]; then
  command -v apt-get >/dev/null || {
    echo "browser-deps: chromium is missing and apt-get is not available: install Chromium" >&2
    exit 1
  }
  echo "browser-deps: installing chromium (apt-get)" >&2
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1; then
    # Most often the package lists are missing (a fresh container): fetch them once, retry.
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || {
      echo "browser-deps: could not install chromium with apt-get (are you root?)" >&2
      exit 1
    }
  fi
  chromium=$(command -v chromium) || { echo "browser-deps: chromium is not on PATH after apt-get" >&2; exit 1; }
fi

pw_version=1.65.1
pw=$cache/browser/node_modules/playwright-core
if ! node -e 'process.exit(require(process.argv[1]).version === process.argv[2] ? 0 : 1)' "$pw/package.json" "$pw_version" 2>/dev/null; then
  command -v npm >/dev/null || { echo "browser-deps: npm is missing: install Node.js 20+ and npm" >&2; exit 1; }
  mkdir -p "$cache/browser"
  echo "browser-deps: installing playwright-core@$pw_version into $cache/browser" >&2
  npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$cache/browser" "playwright-core@$pw_version" >&2
fi
hlsjs=$(scripts/web-deps.sh)

echo "CHROMIUM=$chromium"
echo "PLAYWRIGHT_CORE=$pw/package.json"
echo "ZHIBO_HLSJS=$hlsjs"
echo "ZHIBO_MPEGTSJS=$(scripts/web-deps.sh --mpegts)"
