#!/usr/bin/env bash
# Installs what the benchmark's reference server needs, idempotently (instant when present):
#   nginx + the RTMP module (Debian packages nginx, libnginx-mod-rtmp), and ffmpeg/ffprobe
#   (the harness's publishers and probes). Missing packages are installed with apt-get
#   (as root, or through sudo); `apt-get update` runs only when something is missing.
# Then it checks that nginx loads /usr/lib/nginx/modules/ngx_rtmp_module.so with an rtmp{} block
# like the harness's `--preset nginx` (nginx -t on a throw-away config; nothing is started).
#
# Usage: bench/install-nginx-rtmp.sh [--check] [--smoke]
#   --check   only verify; exit 1 (and say what is missing) instead of installing
#   --smoke   also run the harness's nginx preset for real: 1 stream, 10 s window (~25 s)
#
# NB Debian's nginx package may start the distribution's own nginx service (port 80) when it is
# installed on a machine with an init system; the benchmark does not use it (the harness starts
# its own nginx with its own config, on 127.0.0.1 only) and it idles.
set -euo pipefail

BENCH_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
MODULE=/usr/lib/nginx/modules/ngx_rtmp_module.so
PKGS=(nginx libnginx-mod-rtmp ffmpeg)

check=0 smoke=0
for a in "$@"; do
	case $a in
	--check) check=1 ;;
	--smoke) smoke=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
		exit 0
		;;
	*)
		echo "install-nginx-rtmp: unknown argument $a (see --help)" >&2
		exit 2
		;;
	esac
done

log() { printf 'install-nginx-rtmp: %s\n' "$*" >&2; }

pkg_installed() { [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]; }

missing=()
if command -v dpkg-query >/dev/null; then
	for p in "${PKGS[@]}"; do pkg_installed "$p" || missing+=("$p"); done
else
	# not Debian: judge by the files the harness uses
	command -v nginx >/dev/null && [[ -f $MODULE ]] || missing+=(nginx libnginx-mod-rtmp)
	command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || missing+=(ffmpeg)
fi

if ((${#missing[@]})); then
	if ((check)); then
		log "missing: ${missing[*]} (run $0 without --check to install them)"
		exit 1
	fi
	command -v apt-get >/dev/null ||
		{
			log "missing ${missing[*]} and no apt-get: install nginx, its RTMP module ($MODULE) and ffmpeg by hand"
			exit 1
		}
	SUDO=()
	if ((EUID != 0)); then
		command -v sudo >/dev/null || {
			log "need root (or sudo) to apt-get install ${missing[*]}"
			exit 1
		}
		SUDO=(sudo)
	fi
	log "installing ${missing[*]} (apt-get)"
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
else
	log "already installed: ${PKGS[*]}"
fi

# ---- verify what the harness's nginx preset relies on
[[ -f $MODULE ]] || {
	log "error: $MODULE not found after install"
	exit 1
}
for t in nginx ffmpeg ffprobe; do
	command -v "$t" >/dev/null || {
		log "error: $t not on PATH"
		exit 1
	}
done
tmp=$(mktemp -d)
trap 'rm -rf -- "$tmp"' EXIT
cat >"$tmp/nginx.conf" <<EOF
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/error.log warn;
load_module $MODULE;
events { worker_connections 64; }
rtmp { server { listen 127.0.0.1:1; application live { live on; hls on; hls_path $tmp/hls; hls_nested on; hls_fragment 2s; hls_playlist_length 10s; } } }
EOF
if ! out=$(nginx -t -p "$tmp" -e "$tmp/error.log" -c "$tmp/nginx.conf" 2>&1); then
	log "error: nginx does not accept an rtmp config with $MODULE:"
	printf '%s\n' "$out" >&2
	exit 1
fi
log "ok: $(nginx -v 2>&1 | head -n 1), rtmp module $MODULE ($(dpkg-query -W -f='${Version}' libnginx-mod-rtmp 2>/dev/null || echo '?')), $(ffmpeg -version | head -n 1 | cut -d' ' -f1-3)"

if ((smoke)); then
	log "smoke test: harness --preset nginx, 1 stream, 10 s window"
	python3 "$BENCH_DIR/rtmp_hls_bench.py" run --preset nginx --n 1 --warmup 6 --window 10 --no-copycost |
		tee "$tmp/smoke.out" | grep -v '^RESULT ' || true
	grep -q '"label": "nginx-rtmp".*"streams_ok": 1,.*"probe_ok": true' "$tmp/smoke.out" || {
		log "error: the nginx preset smoke run did not produce a valid stream"
		exit 1
	}
	log "smoke test ok"
fi
