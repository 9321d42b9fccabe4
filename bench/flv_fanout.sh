#!/usr/bin/env bash
# HTTP-FLV fan-out benchmark: zhibo-media-worker serving HTTP-FLV vs nginx-rtmp serving RTMP play
# vs the floor (a bare single-threaded process writing the same FLV bytes to N sockets), N viewers
# of one 2.66 Mbit/s live; then the worker-added delay (publisher write -> viewer read).
# See bench/README.md, "HTTP-FLV fan-out: zhibo vs nginx-rtmp RTMP play vs the floor".
#
# One command: builds the release binaries, installs nginx + libnginx-mod-rtmp (+ ffmpeg) if
# missing, generates the input if missing, runs the matrix, prints a markdown report on stdout
# (progress on stderr) and appends JSONL rows to bench/results/flv-fanout-<time>.jsonl.
# Default run: about 10 minutes (plus the first release build: 15-25 min on 2 cores).
#
# Settings (environment; defaults in brackets):
#   BENCH_FLV_N=100,500,1000          viewers per run
#   BENCH_FLV_SERVERS=zhibo,zhibo+ZHIBO_READ_BATCH_MS=0,nginx,floor,floor-tag
#                                     zhibo | zhibo+NAME=VALUE+... (extra worker env, e.g.
#                                     zhibo+ZHIBO_READ_BATCH_MS=0) | nginx | nginx-hls (nginx-rtmp
#                                     also writing HLS, as the worker does) | floor (writes in
#                                     BENCH_FLV_FLOOR_BATCH_MS batches) | floor-sendfile (the same
#                                     batches sent with sendfile from one in-memory file) |
#                                     floor-tag (a write per tag)
#   BENCH_FLV_WINDOW=20 BENCH_FLV_WARMUP=8   measured window / warm-up after all viewers play (s)
#   BENCH_FLV_LAT_N=10,100            viewers in the delay pass (empty: no delay pass)
#   BENCH_FLV_LAT_SERVERS=zhibo,zhibo+ZHIBO_READ_BATCH_MS=0,nginx
#   BENCH_FLV_LAT_WINDOW=20           delay window (s), after a 5-s warm-up
#   BENCH_FLV_FLOOR_BATCH_MS=95       the batched floor's period (the worker's ZHIBO_READ_BATCH_MS)
#   BENCH_FLV_READ_MS=100             fan-out viewers read at most this often (0: on every wake-up)
#   BENCH_FLV_LOADGEN_THREADS=1       threads of the viewers' process
#   BENCH_FLV_BATCH=50                viewers opened per 50 ms
#   BENCH_FLV_PORT=19450              zhibo RTMP; +1 zhibo HTTP, +2 nginx RTMP, +3 floor
#   BENCH_FLV_WORKER_ENV=             extra NAME=VALUE words for every worker run
#   BENCH_FLV_STOP_ON_SATURATION=0    1: skip larger N for a server once it saturated
#   BENCH_FLV_BUILD=1                 0: use the binaries as they are
#   BENCH_FLV_WORKER_BIN=<target>/release/zhibo-media-worker
#   BENCH_FLV_OUT=bench/results/flv-fanout-<time>.jsonl
#
# Examples:
#   bench/flv_fanout.sh
#   BENCH_FLV_N=100 BENCH_FLV_WINDOW=10 BENCH_FLV_LAT_N=10 bench/flv_fanout.sh     # ~3 min
#   target/release/zhibo-flv-bench report bench/results/flv-fanout-*.jsonl          # re-print
set -euo pipefail

BENCH_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd -- "$BENCH_DIR/.." && pwd)
cd -- "$REPO"

log() { printf 'flv-bench: %s\n' "$*" >&2; }
die() {
	printf 'flv-bench: error: %s\n' "$*" >&2
	exit 1
}

TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
[[ $TARGET_DIR == /* ]] || TARGET_DIR=$REPO/$TARGET_DIR
BENCH_BIN=$TARGET_DIR/release/zhibo-flv-bench
export BENCH_FLV_WORKER_BIN=${BENCH_FLV_WORKER_BIN:-$TARGET_DIR/release/zhibo-media-worker}
export BENCH_FLV_INPUT=${BENCH_FLV_INPUT:-$BENCH_DIR/data/in_720p30_h264_aac.flv}
mkdir -p -- "$BENCH_DIR/results"
export BENCH_FLV_OUT=${BENCH_FLV_OUT:-$BENCH_DIR/results/flv-fanout-$(date +%Y%m%dT%H%M%S).jsonl}

# 1. build
if [[ ${BENCH_FLV_BUILD:-1} != 0 ]]; then
	log "building: cargo build --release -p zhibo-media-worker -p zhibo-flv-bench"
	cargo build --release -p zhibo-media-worker -p zhibo-flv-bench || die "cargo build failed"
fi
[[ -x $BENCH_BIN ]] || die "no $BENCH_BIN (build it, or leave BENCH_FLV_BUILD unset)"
[[ -x $BENCH_FLV_WORKER_BIN ]] || die "no worker binary at $BENCH_FLV_WORKER_BIN"

# 2. nginx + RTMP module, ffmpeg (idempotent: instant when present)
"$BENCH_DIR/install-nginx-rtmp.sh"

# 3. input (60 s 1280x720 30 fps H.264 + AAC, 2.66 Mbit/s), made once
if [[ ! -s $BENCH_FLV_INPUT ]]; then
	python3 "$BENCH_DIR/rtmp_hls_bench.py" --input "$BENCH_FLV_INPUT" gen >/dev/null
fi
[[ -s $BENCH_FLV_INPUT ]] || die "no input at $BENCH_FLV_INPUT"

# 4. sockets: 1000 viewers need 1000+ descriptors in the server and in the viewers' process
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
log "open files limit: $(ulimit -n)"

# warn when other work keeps the box busy (it shows in 'box CPU %' and blurs the figures)
read -ra a < <(head -n 1 /proc/stat)
sleep 2
read -ra b < <(head -n 1 /proc/stat)
busy=0 all=0
for i in 1 2 3 4 5 6 7 8; do
	d=$((b[i] - a[i]))
	all=$((all + d))
	((i == 4 || i == 5)) || busy=$((busy + d))
done
pct=$((100 * $(nproc) * busy / (all > 0 ? all : 1)))
((pct <= 20)) || log "WARNING: the box is already busy ($pct% of one core) before the benchmark; figures will be noisy"

# 5. the matrix; the report goes to stdout
echo "## HTTP-FLV fan-out ($(date '+%Y-%m-%d %H:%M'), $(nproc) cores; $(basename -- "$BENCH_FLV_OUT"))"
"$BENCH_BIN" matrix
