#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh Debian machine (apt
# packages, the reference kmod 34.2 and 30, Debian's kernel module trees), then runs
# formatting, lints, every test (differential ones included: they must not skip) and
# a short fuzzing run.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

pkgs=(xz-utils zstd gzip cpio mandoc bash zsh fish make time)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

KMOD_RS_CACHE=$(scripts/fetch-reference.sh | tail -n 1)
export KMOD_RS_CACHE
export KMOD_RS_REQUIRE_ORACLE=1

step() { printf '\n=== %s\n' "$*"; }

step "rustfmt"
cargo fmt --all -- --check
step "clippy (default features, all targets)"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "clippy (no default features)"
cargo clippy --workspace --no-default-features --locked -- -D warnings
step "build without decompressors"
cargo build -p libkmod-rs --no-default-features --locked
step "docs"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
step "tests (unit, fixtures, differential against kmod 34.2)"
cargo test --workspace --locked -- --test-threads=2
step "library tests without decompressors"
cargo test -p libkmod-rs --no-default-features --locked
if [ -x scripts/fuzz-smoke.sh ]; then
    step "fuzz smoke run"
    FUZZ_SECONDS=${FUZZ_SECONDS:-15} scripts/fuzz-smoke.sh
fi
step "demo (the README's first command) on a real kernel"
bash scripts/demo.sh
echo
echo "all checks passed"
