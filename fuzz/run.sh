#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time; exits non-zero if one finds a crash.
#
#   fuzz/run.sh [seconds]          # seconds per target, default 60
#
# Environment:
#   FUZZ_TARGETS="rtmp_ingest chunk_guard"     which targets (default: all in fuzz/Cargo.toml)
#   FUZZ_JOBS=1                                 libFuzzer -fork=N workers per target (default 1)
#   FUZZ_SANITIZER=address                      cargo fuzz -s: address (default) or none
#   FUZZ_DEBUG_ASSERTIONS=1                     1 (default): debug assertions and overflow checks
#                                               on, so arithmetic overflow panics. 0: the release
#                                               semantics the worker ships with (cargo fuzz -O;
#                                               separate target dir fuzz/target/prod)
#   FUZZ_NICE=10                                nice level of the build and the runs
#
# Installs cargo-fuzz if missing and creates the seed corpora (fuzz/make-corpus.py: needs
# ffmpeg and builds the worker) if fuzz/corpus/<target> is missing or empty. cargo-fuzz needs a
# nightly compiler; on a stable toolchain RUSTC_BOOTSTRAP=1 unlocks the -Z flags it passes.
# Crashing inputs are saved under fuzz/artifacts/<target>/.
set -euo pipefail

SECONDS_PER_TARGET="${1:-60}"
case "$SECONDS_PER_TARGET" in
  '' | *[!0-9]*) echo "usage: $0 [seconds per target]" >&2; exit 2 ;;
esac

FUZZ_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$FUZZ_DIR")"
NICE="nice -n ${FUZZ_NICE:-10}"
SANITIZER="${FUZZ_SANITIZER:-address}"
JOBS="${FUZZ_JOBS:-1}"
BUILD_ARGS=(-s "$SANITIZER")
if [ "${FUZZ_DEBUG_ASSERTIONS:-1}" = 0 ]; then
  BUILD_ARGS+=(-O --target-dir "$FUZZ_DIR/target/prod")
fi

# Stable toolchains refuse -Zsanitizer & co. without RUSTC_BOOTSTRAP=1 (set only for cargo fuzz,
# not for the worker build below, so that the main target dir is not rebuilt).
FUZZ=(cargo fuzz)
if ! rustc --version | grep -q nightly; then
  FUZZ=(env RUSTC_BOOTSTRAP=1 cargo fuzz)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  $NICE cargo install cargo-fuzz --locked
fi

cd "$FUZZ_DIR"
TARGETS="${FUZZ_TARGETS:-$("${FUZZ[@]}" list)}"

need_corpus=0
for t in $TARGETS; do
  if [ -z "$(ls -A "corpus/$t" 2>/dev/null)" ]; then need_corpus=1; fi
done
if [ "$need_corpus" = 1 ]; then
  echo "== building the worker and recording seed corpora (fuzz/make-corpus.py)"
  (cd "$ROOT" && $NICE cargo build -p zhibo-media-worker)
  $NICE python3 "$FUZZ_DIR/make-corpus.py" --worker "$ROOT/target/debug/zhibo-media-worker"
fi

# Same flags for build and run so that the run does not rebuild. (cargo fuzz turns debug
# assertions and overflow checks on unless -O is given.)
echo "== building the fuzz targets (${BUILD_ARGS[*]})"
$NICE "${FUZZ[@]}" build "${BUILD_ARGS[@]}"

failed=()
for t in $TARGETS; do
  echo "== fuzzing $t for ${SECONDS_PER_TARGET}s"
  mkdir -p "corpus/$t" "artifacts/$t"
  args=(-max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1)
  # RTMP targets: AMF0 containers and chunk headers as dictionary tokens, and inputs up to
  # 128 KiB so that deep and large AMF values (the 64 KiB cap and beyond) are reachable.
  case "$t" in
    rtmp_ingest | chunk_guard) args+=(-dict="$FUZZ_DIR/rtmp.dict" -max_len=131072) ;;
  esac
  if [ "$JOBS" -gt 1 ]; then args+=(-fork="$JOBS"); fi
  if ! $NICE "${FUZZ[@]}" run "${BUILD_ARGS[@]}" "$t" "corpus/$t" -- "${args[@]}"; then
    failed+=("$t")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "== CRASH in: ${failed[*]} (inputs under fuzz/artifacts/<target>/;" \
    "reproduce with: RUSTC_BOOTSTRAP=1 cargo fuzz run ${BUILD_ARGS[*]} <target> <artifact>)" >&2
  exit 1
fi
echo "== no crash"
