#!/usr/bin/env bash
# Fails when a crate declares a dependency it does not use (cargo machete, installed into
# ~/.cargo/bin the first time), or the workspace table lists a version no crate takes.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-machete >/dev/null || cargo install --locked --quiet cargo-machete@0.9.2
cargo machete
python3 - <<'PY'
import glob, re, sys
root = open("Cargo.toml").read()
table = root.split("[workspace.dependencies]")[1].split("\n[")[0]
names = [l.split("=")[0].strip() for l in table.splitlines() if "=" in l and not l.lstrip().startswith("#")]
manifests = [open(p).read() for p in glob.glob("**/Cargo.toml", recursive=True)
             if p != "Cargo.toml" and not p.startswith(("target", "fuzz"))]
unused = [n for n in names
          if not any(re.search(rf"^{re.escape(n)}(\.workspace| *=)", m, re.M) for m in manifests)]
if unused:
    sys.exit(f"[workspace.dependencies] lists versions no crate uses: {unused}; remove them from Cargo.toml")
print("workspace dependencies: every entry is used")
PY
