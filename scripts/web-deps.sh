#!/usr/bin/env bash
# Installs the demo page's one dependency, hls.js (pinned), into
# ${ZHIBO_CACHE:-$HOME/.cache/zhibo}/web, and prints the path of hls.min.js (which
# `zhibo serve --dev-app` serves at /demo/hls.min.js; ZHIBO_HLSJS overrides where it looks).
# Idempotent: does nothing when the pinned version is already there. Needs node and npm.
set -euo pipefail

version=${ZHIBO_HLSJS_VERSION:-1.6.19}
prefix=${ZHIBO_CACHE:-$HOME/.cache/zhibo}/web
dist=$prefix/node_modules/hls.js/dist/hls.min.js
manifest=$prefix/node_modules/hls.js/package.json

installed() {
  [ -s "$dist" ] && [ -f "$manifest" ] &&
    node -e 'process.exit(require(process.argv[1]).version === process.argv[2] ? 0 : 1)' "$manifest" "$version"
}

if ! installed; then
  command -v npm >/dev/null || {
    echo "web-deps: npm is missing: install Node.js 20+ and npm (apt-get install nodejs npm)" >&2
    exit 1
  }
  mkdir -p "$prefix"
  echo "web-deps: installing hls.js@$version into $prefix" >&2
  npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$prefix" "hls.js@$version" >&2
  installed || {
    echo "web-deps: npm finished but $dist (hls.js $version) is not there" >&2
    exit 1
  }
fi
echo "$dist"
