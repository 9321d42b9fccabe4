#!/usr/bin/env bash
# Installs the demo page's two players, pinned, into ${ZHIBO_CACHE:-$HOME/.cache/zhibo}/web:
# hls.js (HLS; served at /demo/hls.min.js, ZHIBO_HLSJS overrides where `zhibo serve` looks) and
# mpegts.js (HTTP-FLV; /demo/mpegts.js, ZHIBO_MPEGTSJS). Prints the path of hls.min.js, or with
# --mpegts the path of mpegts.js. Idempotent: does nothing when the pinned versions are there.
# Needs node and npm.
set -euo pipefail

hls_version=${ZHIBO_HLSJS_VERSION:-1.6.19}
mpegts_version=${ZHIBO_MPEGTSJS_VERSION:-1.8.0}
# The registry's integrity of mpegts.js 1.8.0's tarball (checked unless the version is overridden).
mpegts_integrity=sha512-ZtujqtmTjWgcDDkoOnLvrOKUTO/MKgLHM432zGDI8oPaJ0S+ebPxg1nEpDpLw6I7KmV/GZgUIrfbWi3qqEircg==
prefix=${ZHIBO_CACHE:-$HOME/.cache/zhibo}/web

# installed PACKAGE VERSION FILE: the package's pinned version is there with its FILE.
installed() {
  local dir=$prefix/node_modules/$1
  [ -s "$dir/$3" ] && [ -f "$dir/package.json" ] &&
    node -e 'process.exit(require(process.argv[1]).version === process.argv[2] ? 0 : 1)' "$dir/package.json" "$2"
}

need_npm() {
  command -v npm >/dev/null || {
    echo "web-deps: npm is missing: install Node.js 20+ and npm (apt-get install nodejs npm)" >&2
    exit 1
  }
}

if ! installed hls.js "$hls_version" dist/hls.min.js; then
  need_npm
  mkdir -p "$prefix"
  echo "web-deps: installing hls.js@$hls_version into $prefix" >&2
  npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$prefix" "hls.js@$hls_version" >&2
  installed hls.js "$hls_version" dist/hls.min.js || {
    echo "web-deps: npm finished but hls.js $hls_version is not in $prefix/node_modules" >&2
    exit 1
  }
fi

# mpegts.js: only its prebuilt dist/ is used, and `npm install` would also fetch its build-time
# dependencies (one from GitHub over git). So: the registry tarball alone (`npm pack`), checked
# against the pinned integrity, unpacked into node_modules/mpegts.js.
if ! installed mpegts.js "$mpegts_version" dist/mpegts.js; then
  need_npm
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "web-deps: installing mpegts.js@$mpegts_version into $prefix" >&2
  (cd "$tmp" && npm pack --silent --loglevel=error "mpegts.js@$mpegts_version" >/dev/null)
  tarball=$tmp/mpegts.js-$mpegts_version.tgz
  [ -s "$tarball" ] || { echo "web-deps: npm pack did not fetch mpegts.js@$mpegts_version" >&2; exit 1; }
  got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
  if [ -z "${ZHIBO_MPEGTSJS_VERSION:-}" ] && [ "$got" != "$mpegts_integrity" ]; then
    echo "web-deps: mpegts.js@$mpegts_version's tarball is not the pinned one ($got, expected $mpegts_integrity): refusing it" >&2
    exit 1
  fi
  rm -rf "$prefix/node_modules/mpegts.js"
  mkdir -p "$prefix/node_modules/mpegts.js"
  tar -xzf "$tarball" -C "$prefix/node_modules/mpegts.js" --strip-components=1
  installed mpegts.js "$mpegts_version" dist/mpegts.js || {
    echo "web-deps: mpegts.js $mpegts_version unpacked but dist/mpegts.js is not there" >&2
    exit 1
  }
fi

case ${1:-} in
  --mpegts) echo "$prefix/node_modules/mpegts.js/dist/mpegts.js" ;;
  '') echo "$prefix/node_modules/hls.js/dist/hls.min.js" ;;
  *) echo "usage: scripts/web-deps.sh [--mpegts]" >&2; exit 2 ;;
esac
