#!/usr/bin/env bash
# One command for the RTMP -> HLS comparison zhibo-media-worker vs nginx-rtmp (see bench/README.md):
#   1. builds the worker in release (cargo build --release -p zhibo-media-worker);
#   2. installs/checks nginx + the RTMP module and ffmpeg (bench/install-nginx-rtmp.sh);
#   3. makes the test input once (rtmp_hls_bench.py gen -> bench/data/, gitignored);
#   4. starts a private SeaweedFS (scripts/stack.sh s3-start) when zhibo-s3 is measured;
#   5. runs the matrix, servers interleaved per N, appending JSON lines to bench/results/;
#      then a latency pass with one publisher per stream (K = 1) at BENCH_LAT_N;
#   6. prints the markdown report (rtmp_hls_bench.py report) and the targets (targets.py);
#   7. stops the SeaweedFS it started.
#
# Usage: bench/run.sh            (settings are environment variables, defaults below)
#   BENCH_SERVERS=nginx,zhibo,zhibo-s3  servers: nginx (preset, label nginx-rtmp), zhibo (fs sink),
#                                   zhibo-s3 (S3 sink on SeaweedFS); ffmpeg also works (preset)
#   BENCH_N=10,50,200               stream counts of the main matrix
#   BENCH_S3_N=10,50                the N (of BENCH_N) at which zhibo-s3 runs too
#   BENCH_LAT_N=10                  N of the latency pass (K = 1, nginx and zhibo); empty = skip
#   BENCH_REPEAT=1                  repeats per (server, N); order reversed on odd repeats
#   BENCH_WINDOW=60                 measurement window, s (60 = one loop of the input)
#   BENCH_WARMUP=12                 s from the last publisher's start to the window
#   BENCH_PER_PUB=10                streams per publisher ffmpeg (tee) in the main matrix
#   BENCH_STOP_ON_SATURATION=0      1: skip larger N for a server once it saturated
#   BENCH_NICE=0                    e.g. -5: servers and publishers under nice (root only)
#   BENCH_BUILD=1                   0: don't run cargo, use the existing binary
#   BENCH_WORKER_BIN=<target>/release/zhibo-media-worker
#   BENCH_OUT=bench/results/run-<time>.jsonl   (appended to; reuse it to add repeats)
#   BENCH_PORT=19350 BENCH_HTTP_PORT=19380     RTMP port; HTTP port (+1 = the worker's API port)
#   BENCH_STACK_STATE=<repo>/.stack/bench      private SeaweedFS state (pid, log, data)
#   BENCH_S3_PORT=18463 BENCH_S3_MASTER_PORT=19483 BENCH_S3_VOLUME_PORT=19490
#   BENCH_S3_FILER_PORT=19938 BENCH_S3_ADMIN_PORT=19696 BENCH_DYNAMO_PORT=18030
#   BENCH_ARGS=                     extra arguments for `rtmp_hls_bench.py run` (word-split)
#
# Examples:
#   bench/run.sh                                            # full comparison (~15 min + build)
#   BENCH_SERVERS=nginx BENCH_N=10 BENCH_WINDOW=20 BENCH_LAT_N= bench/run.sh   # baseline only
#   python3 bench/rtmp_hls_bench.py report bench/results/run-*.jsonl          # re-print a report
set -euo pipefail

BENCH_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd -- "$BENCH_DIR/.." && pwd)
HARNESS=$BENCH_DIR/rtmp_hls_bench.py

SERVERS=${BENCH_SERVERS-nginx,zhibo,zhibo-s3}
NS=${BENCH_N-10,50,200}
S3_NS=${BENCH_S3_N-10,50}
LAT_NS=${BENCH_LAT_N-10}
REPEAT=${BENCH_REPEAT:-1}
WINDOW=${BENCH_WINDOW:-60}
WARMUP=${BENCH_WARMUP:-12}
PER_PUB=${BENCH_PER_PUB:-10}
STOP_ON_SAT=${BENCH_STOP_ON_SATURATION:-0}
NICE=${BENCH_NICE:-0}
BUILD=${BENCH_BUILD:-1}
PORT=${BENCH_PORT:-19350}
HTTP_PORT=${BENCH_HTTP_PORT:-19380}
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
[[ $TARGET_DIR == /* ]] || TARGET_DIR=$REPO/$TARGET_DIR
WORKER_BIN=${BENCH_WORKER_BIN:-$TARGET_DIR/release/zhibo-media-worker}
[[ $WORKER_BIN == /* ]] || WORKER_BIN=$PWD/$WORKER_BIN # the harness starts servers in their workdir
mkdir -p -- "$BENCH_DIR/results"
OUT=${BENCH_OUT:-$BENCH_DIR/results/run-$(date +%Y%m%dT%H%M%S).jsonl}
[[ $OUT == /* ]] || OUT=$PWD/$OUT
read -ra EXTRA <<<"${BENCH_ARGS:-}"

# private SeaweedFS for zhibo-s3 (scripts/stack.sh reads the ZHIBO_* variables)
STACK=(env ZHIBO_STATE="${BENCH_STACK_STATE:-$REPO/.stack/bench}" ZHIBO_BUCKET=hls
	ZHIBO_DYNAMO_PORT="${BENCH_DYNAMO_PORT:-18030}" ZHIBO_S3_PORT="${BENCH_S3_PORT:-18463}"
	ZHIBO_S3_MASTER_PORT="${BENCH_S3_MASTER_PORT:-19483}" ZHIBO_S3_VOLUME_PORT="${BENCH_S3_VOLUME_PORT:-19490}"
	ZHIBO_S3_FILER_PORT="${BENCH_S3_FILER_PORT:-19938}" ZHIBO_S3_ADMIN_PORT="${BENCH_S3_ADMIN_PORT:-19696}"
	"$REPO/scripts/stack.sh")
FILER_URL=http://127.0.0.1:${BENCH_S3_FILER_PORT:-19938}

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
	printf 'bench: error: %s\n' "$*" >&2
	exit 1
}

split() { tr ',' ' ' <<<"$1"; }                       # "10,50" -> "10 50"
has() { [[ ,$2, == *,$1,* ]]; }                       # has ITEM "a,b,c"
label_of() { case $1 in nginx) echo nginx-rtmp ;; ffmpeg) echo ffmpeg-hls ;; *) echo "$1" ;; esac }

for v in REPEAT WINDOW WARMUP PER_PUB PORT HTTP_PORT; do
	[[ ${!v} =~ ^[0-9]+([.][0-9]+)?$ ]] || die "$v must be a number, got '${!v}'"
done
for s in $(split "$SERVERS"); do
	case $s in nginx | ffmpeg | zhibo | zhibo-s3) ;; *) die "unknown server '$s' in BENCH_SERVERS (nginx, zhibo, zhibo-s3, ffmpeg)" ;; esac
done
want_zhibo=0 want_s3=0 want_nginx=0
has zhibo "$SERVERS" && want_zhibo=1
has nginx "$SERVERS" && want_nginx=1
if has zhibo-s3 "$SERVERS"; then
	for n in $(split "$NS"); do has "$n" "$S3_NS" && want_s3=1; done
	((want_s3)) || log "zhibo-s3 skipped: none of BENCH_N=$NS is in BENCH_S3_N=$S3_NS"
fi

# ------------------------------------------------------------- 1. build
if ((want_zhibo || want_s3)); then
	if [[ $BUILD != 0 ]]; then
		log "building the worker: cargo build --release -p zhibo-media-worker"
		(cd -- "$REPO" && cargo build --release -p zhibo-media-worker) || die "cargo build failed"
	fi
	[[ -x $WORKER_BIN ]] || die "no worker binary at $WORKER_BIN (build it, or set BENCH_WORKER_BIN)"
fi

# ------------------------------------------------------------- 2./3. tools and input
if ((want_nginx)); then
	"$BENCH_DIR/install-nginx-rtmp.sh"
else
	if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
		"$BENCH_DIR/install-nginx-rtmp.sh"
	fi
fi
python3 "$HARNESS" gen >/dev/null

# ------------------------------------------------------------- 4. SeaweedFS
STARTED_S3=0
cleanup() {
	if ((STARTED_S3)); then
		log "stopping the benchmark's SeaweedFS"
		"${STACK[@]}" s3-stop || true
	fi
}
trap cleanup EXIT
S3_ENDPOINT='' S3_BUCKET='' S3_KEY='' S3_SECRET='' S3_REGION=''
if ((want_s3)); then
	st=$("${STACK[@]}" status 2>/dev/null || true) # exits 1 when DynamoDB (not needed) is down
	if grep -q '^seaweedfs  running' <<<"$st"; then
		log "SeaweedFS of the benchmark already running: using it (and leaving it running)"
	else
		STARTED_S3=1
	fi
	"${STACK[@]}" s3-start
	s3env=$("${STACK[@]}" env)
	getenv() { sed -n "s/^export $1=//p" <<<"$s3env"; }
	S3_ENDPOINT=$(getenv ZHIBO_S3_ENDPOINT) S3_BUCKET=$(getenv MEDIA_BUCKET)
	S3_KEY=$(getenv AWS_ACCESS_KEY_ID) S3_SECRET=$(getenv AWS_SECRET_ACCESS_KEY) S3_REGION=$(getenv AWS_REGION)
	# anonymous GET is what the harness's HTTP playlist poll relies on (scripts/s3-identities.json)
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$S3_ENDPOINT/$S3_BUCKET/live/bench/none" || true)
	[[ $code == 404 ]] || die "SeaweedFS at $S3_ENDPOINT: anonymous GET answered $code, expected 404 (anonymous read of '$S3_BUCKET' off?)"
fi

# ------------------------------------------------------------- server specs (JSON, for --custom-json)
# The worker's interface is its environment; the harness fills {port} {api_port} {hls_dir} {workdir}
# (per run) and {idx} (0..N-1, per stream). Stream keys are {app_id}_{room_id}: bench_1{idx}.
spec() { # spec zhibo|zhibo-s3 -> one JSON object
	python3 - "$1" "$WORKER_BIN" "$FILER_URL" "$S3_ENDPOINT" "$S3_BUCKET" "$S3_KEY" "$S3_SECRET" "$S3_REGION" <<'EOF'
import json, re, shlex, sys


def q(a):  # quote for sh/shlex only when needed ({...} are the harness's templates)
    return a if re.fullmatch(r"[\w@%+=:,./{}-]+", a) else shlex.quote(a)


kind, binary, filer, endpoint, bucket, key, secret, region = sys.argv[1:]
common = ["ZHIBO_RTMP_ADDR=127.0.0.1:{port}", "ZHIBO_HTTP_ADDR=127.0.0.1:{api_port}"]
# Every publisher connects from 127.0.0.1 at once: lift the per-address pre-publish limit.
tail = ["ZHIBO_PUBLISH_AUTH=off", "ZHIBO_SPILL_DIR={workdir}/spill", "RUST_LOG=warn",
        "ZHIBO_MAX_PREAUTH_PER_ADDRESS=100000", "ZHIBO_MAX_PREAUTH_CONNECTIONS=100000", binary]
if kind == "zhibo":
    cmd = " ".join(q(a) for a in
                   ["env"] + common + ["ZHIBO_SINK=fs", "ZHIBO_FS_SINK_DIR={hls_dir}"] + tail)
    playlist = "{hls_dir}/live/bench/1{idx}/index.m3u8"
else:
    worker = " ".join(q(a) for a in
                      ["env"] + common + ["ZHIBO_SINK=s3", "ZHIBO_S3_ENDPOINT=" + endpoint,
                                          "MEDIA_BUCKET=" + bucket, "AWS_ACCESS_KEY_ID=" + key,
                                          "AWS_SECRET_ACCESS_KEY=" + secret, "AWS_REGION=" + region] + tail)
    # the bucket outlives runs: empty live/bench/ first (SeaweedFS filer API, one request), so no
    # playlist of an earlier run is polled; then exec, so the harness measures the worker's PID
    wipe = 'curl -s -o /dev/null --max-time 30 -X DELETE "%s/buckets/%s/live/bench?recursive=true' \
        '&ignoreRecursiveError=true"' % (filer, bucket)
    cmd = "sh -c " + shlex.quote(wipe + "; exec " + worker)
    playlist = "%s/%s/live/bench/1{idx}/index.m3u8" % (endpoint, bucket)
print(json.dumps({"label": kind, "cmd": cmd, "url": "rtmp://127.0.0.1:{port}/live/bench_1{idx}",
                  "playlist": playlist}))
EOF
}

saturated_labels() { # labels with a saturated or failed run in $OUT so far
	[[ -f $OUT ]] || return 0
	python3 - "$OUT" <<'EOF'
import json, sys
seen = set()
for ln in open(sys.argv[1]):
    r = json.loads(ln)
    if r.get("kind") == "run" and (r.get("saturated") or r.get("error")):
        seen.add(r["label"])
print(",".join(sorted(seen)))
EOF
}

# run_harness N K SERVER... : one harness invocation, those servers interleaved at that N
COPYCOST_DONE=0
run_harness() {
	local n=$1 k=$2 s label sat args=()
	shift 2
	sat=
	[[ $STOP_ON_SAT == 0 ]] || sat=$(saturated_labels)
	for s in "$@"; do
		label=$(label_of "$s")
		if [[ -n $sat ]] && has "$label" "$sat"; then
			log "skip $label at N=$n (saturated or failed at a smaller N; BENCH_STOP_ON_SATURATION=1)"
			continue
		fi
		case $s in
		zhibo | zhibo-s3) args+=(--custom-json "$(spec "$s")") ;;
		*) args+=(--preset "$s") ;;
		esac
	done
	((${#args[@]})) || return 0
	args+=(--n "$n" --per-pub "$k" --repeat "$REPEAT" --window "$WINDOW" --warmup "$WARMUP"
		--port "$PORT" --http-port "$HTTP_PORT" --nice "$NICE" --out "$OUT")
	[[ $STOP_ON_SAT != 0 ]] || args+=(--no-stop-on-saturation)
	((COPYCOST_DONE)) && args+=(--no-copycost)
	COPYCOST_DONE=1
	log "$(python3 -c 'import shlex, sys; print(shlex.join(sys.argv[1:]))' \
		python3 bench/rtmp_hls_bench.py run "${args[@]}" "${EXTRA[@]}")"
	# stdout (RESULT lines, the table of this invocation) is left out: it is all in $OUT and in the
	# report below; the progress lines (one per run) go to stderr
	python3 "$HARNESS" run "${args[@]}" "${EXTRA[@]}" >/dev/null
}

busy_check() { # warn when other work keeps the box busy: it shows up in other% and blurs latency
	local a b
	read -ra a < <(head -n 1 /proc/stat)
	sleep 2
	read -ra b < <(head -n 1 /proc/stat)
	python3 - "${a[*]:1}" "${b[*]:1}" "$(nproc)" <<'EOF' >&2
import sys
a = [int(x) for x in sys.argv[1].split()]; b = [int(x) for x in sys.argv[2].split()]
d = [y - x for x, y in zip(a, b)][:8]
busy = 100.0 * int(sys.argv[3]) * (sum(d) - d[3] - d[4]) / max(sum(d), 1)
if busy > 20:
    print("bench: WARNING: the box is already busy (%.0f%% of one core, %s cores) before the benchmark; "
          "figures will be noisy (see other%% / 'other CPU %%')" % (busy, sys.argv[3]))
EOF
}

# ------------------------------------------------------------- 5. matrix
log "results: $OUT"
busy_check
t0=$SECONDS
for n in $(split "$NS"); do
	servers=()
	for s in $(split "$SERVERS"); do
		[[ $s == zhibo-s3 ]] && ! has "$n" "$S3_NS" && continue
		servers+=("$s")
	done
	run_harness "$n" "$PER_PUB" "${servers[@]}"
done
# latency pass: one plain-flv publisher per stream (the tee adds ~45-55 ms to every segment)
if [[ -n $LAT_NS ]]; then
	servers=()
	for s in $(split "$SERVERS"); do [[ $s == zhibo-s3 ]] || servers+=("$s"); done
	for n in $(split "$LAT_NS"); do run_harness "$n" 1 "${servers[@]}"; done
fi
log "matrix done in $(((SECONDS - t0) / 60)) min $(((SECONDS - t0) % 60)) s"

# ------------------------------------------------------------- 6. report
[[ -s $OUT ]] || die "no results in $OUT"
echo
echo "## Results ($(date '+%Y-%m-%d %H:%M'), $(nproc) cores, window ${WINDOW}s, repeat $REPEAT; $(basename -- "$OUT"))"
echo
python3 "$HARNESS" report "$OUT"
echo
python3 "$BENCH_DIR/targets.py" "$OUT"
