#!/usr/bin/env bash
# `make build-lambdas`: every function as a Lambda `bootstrap` (provided.al2023), with
# cargo-lambda (installed into the cache if missing; it builds through zig, so the binaries link
# against a glibc old enough for Amazon Linux 2023). One release build per function.
#
#   scripts/build-lambdas.sh            # x86_64
#   ARCH=arm64 scripts/build-lambdas.sh # needs the aarch64-unknown-linux-gnu rustup target
#
# Output: target/lambda/lambda/<binary>/bootstrap, and a table of sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${ZHIBO_CACHE:-$HOME/.cache/zhibo}
if ! command -v cargo-lambda >/dev/null; then
  [ -x "$cache/lambda-venv/bin/cargo-lambda" ] ||
    { python3 -m venv "$cache/lambda-venv" && "$cache/lambda-venv/bin/pip" install -q cargo-lambda; }
  # The venv's python3 first: cargo-lambda finds zig through `python3 -m ziglang`.
  export PATH=$cache/lambda-venv/bin:$PATH
fi
arch_flag=()
[ "${ARCH:-x86_64}" = arm64 ] && arch_flag=(--arm64)
# One build per function, so each links only the features it asks for (the rooms function
# takes zhibo-store's `media`, the hooks function does not): one `cargo build` of several
# packages would unify their features. Shared dependencies are still compiled once.
for manifest in functions/*/Cargo.toml; do
  package=$(sed -n 's/^name = "\(.*\)"/\1/p' "$manifest" | head -1)
  CARGO_TARGET_DIR=target/lambda cargo lambda build --release "${arch_flag[@]}" -p "$package"
done
printf '\n| binary | size |\n|---|---|\n'
for f in target/lambda/lambda/*/bootstrap; do
  printf '| %s | %s |\n' "$(basename "$(dirname "$f")")" "$(du -h "$f" | cut -f1)"
done
