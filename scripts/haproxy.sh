#!/usr/bin/env bash
# HAProxy in front of several media workers, as the AWS Network Load Balancer is in production:
# plain TCP, round robin, no stickiness, each worker health-checked on its HTTP /healthz (503
# from SIGTERM on, so a draining worker gets no new publishers). Loopback only. The one place
# that installs HAProxy and writes its configuration: `make dev` (WORKERS=N), `make test` and
# the worker's cluster tests (media-worker/tests/common/mod.rs) all come here.
#
#   scripts/haproxy.sh install                            install it if missing (Debian package)
#   scripts/haproxy.sh config DIR PORT RTMP:HTTP...       write DIR/haproxy.cfg, print its path
#   scripts/haproxy.sh run DIR PORT RTMP:HTTP...          config, then haproxy in the foreground
#   scripts/haproxy.sh start DIR PORT RTMP:HTTP...        config, then haproxy in the background
#                                                         (pid in DIR/haproxy.pid)
#   scripts/haproxy.sh stop DIR                           stop what `start` started (by its pid)
#
# PORT is the RTMP port publishers connect to (127.0.0.1:PORT); each RTMP:HTTP pair is one
# worker's RTMP port and its /healthz port on 127.0.0.1. With PLAY_PORT set, 127.0.0.1:PLAY_PORT
# also spreads HTTP-FLV viewers over the workers' HTTP ports (TCP, round robin, the same health
# checks), as the template's playback listener does: any worker serves any live (edge relay).
set -euo pipefail

usage() {
  echo "usage: scripts/haproxy.sh install | config|run|start DIR PORT RTMP:HTTP... | stop DIR" >&2
  exit 2
}

install() {
  command -v haproxy >/dev/null && return 0
  # We run as root in CI (and in the dev container); elsewhere apt-get needs sudo, and the
  # message below says so.
  if ! command -v apt-get >/dev/null; then
    echo "haproxy is missing and apt-get is not available: install HAProxy (2.4 or later) with your package manager" >&2
    return 1
  fi
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy >/dev/null 2>&1; then
    # Most often the package lists are missing (a fresh container): fetch them once, retry.
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy >/dev/null || {
      echo "could not install haproxy with apt-get (are you root? try: sudo apt-get install haproxy)" >&2
      return 1
    }
  fi
  command -v haproxy >/dev/null || { echo "apt-get installed haproxy but it is not on PATH" >&2; return 1; }
}

# config DIR PORT RTMP:HTTP...: writes DIR/haproxy.cfg, prints its path.
config() {
  [ $# -ge 3 ] || usage
  local dir=$1 port=$2 cfg
  shift 2
  mkdir -p "$dir"
  cfg=$dir/haproxy.cfg
  {
    cat <<CFG
# Written by scripts/haproxy.sh: the local stand-in for the AWS NLB in front of the media workers.
global
    # Local use: well within a default open-file limit (haproxy needs about 2 per connection).
    maxconn 4000
    log stderr format raw local0 info

defaults
    mode tcp
    log global
    option tcplog
    # RTMP connections live for hours: idle limits far above a stream's length; a worker that
    # does not accept within 2 s is skipped (a stopped worker refuses at once).
    timeout connect 2s
    timeout client 6h
    timeout server 6h
    timeout check 2s
    # A connect that fails goes to another worker instead of failing the publisher.
    option redispatch
    retries 2

frontend rtmp
    bind 127.0.0.1:$port
    default_backend workers

backend workers
    balance roundrobin
    # /healthz answers 503 once a worker drains (SIGTERM): it gets no new connections; the
    # ones it has are left to finish.
    option httpchk GET /healthz
    default-server inter 1s fall 1 rise 1
CFG
    local i=0 pair
    for pair in "$@"; do
      i=$((i + 1))
      case $pair in
        *[!0-9:]* | :* | *: | *:*:*) echo "scripts/haproxy.sh: backend '$pair' is not RTMP_PORT:HTTP_PORT" >&2; exit 2 ;;
      esac
      printf '    server w%d 127.0.0.1:%s check port %s\n' "$i" "${pair%%:*}" "${pair##*:}"
    done
    if [ -n "${PLAY_PORT:-}" ]; then
      case $PLAY_PORT in
        *[!0-9]*) echo "scripts/haproxy.sh: PLAY_PORT=$PLAY_PORT is not a port" >&2; exit 2 ;;
      esac
      cat <<CFG

# HTTP-FLV viewers: the template's playback listener (TCP; each worker serves any live).
frontend play
    bind 127.0.0.1:$PLAY_PORT
    default_backend play_workers

backend play_workers
    balance roundrobin
    option httpchk GET /healthz
    default-server inter 1s fall 1 rise 1
CFG
      i=0
      for pair in "$@"; do
        i=$((i + 1))
        printf '    server w%d 127.0.0.1:%s check\n' "$i" "${pair##*:}"
      done
    fi
  } >"$cfg"
  haproxy -c -q -f "$cfg" || { echo "scripts/haproxy.sh: haproxy refused $cfg (above)" >&2; exit 1; }
  echo "$cfg"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
  install) install ;;
  config) install && config "$@" ;;
  run)
    install
    cfg=$(config "$@")
    exec haproxy -db -f "$cfg"
    ;;
  start)
    install
    cfg=$(config "$@")
    # -D: daemon once the frontend is bound (the port takes connections when this returns).
    haproxy -D -p "$1/haproxy.pid" -f "$cfg"
    cat "$1/haproxy.pid"
    ;;
  stop)
    [ $# -eq 1 ] || usage
    pidfile=$1/haproxy.pid
    [ -f "$pidfile" ] || exit 0
    kill "$(head -n1 "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
    ;;
  *) usage ;;
esac
