#!/usr/bin/env bash
# The demo: build kmod-rs, fetch Debian's real kernel module trees (and the reference
# kmod, used here only to index a tree until our depmod lands), and show modinfo and
# index lookups on them. Touches nothing of the host's modules.
set -euo pipefail
cd "$(dirname "$0")/.."
KMOD_RS_ONLY_AMD64=1 KMOD_RS_CACHE=$(KMOD_RS_ONLY_AMD64=1 scripts/fetch-reference.sh | tail -n 1)
export KMOD_RS_CACHE
cargo build --release --quiet
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin"
for t in kmod modinfo; do ln -s "$PWD/target/release/kmod" "$tmp/bin/$t"; done
PATH=$tmp/bin:$PATH

show() { printf '\n$ %s\n' "$*"; "$@" || printf '(exit %s)\n' "$?"; }

for tree in bookworm-amd64 trixie-amd64; do
    root=$KMOD_RS_CACHE/trees/$tree
    kver=$(cat "$root/KVER")
    echo
    echo "================ $tree: Linux $kver"
    copy=$tmp/$tree
    cp -al "$root" "$copy"
    # index the copy (kmod-rs's own depmod is the next milestone)
    "$KMOD_RS_CACHE/kmod34/bin/depmod" -b "$copy" "$kver"
    show kmod --version
    show modinfo -b "$copy" -k "$kver" loop
    show modinfo -b "$copy" -k "$kver" -F depends btrfs
    show modinfo -b "$copy" -k "$kver" -F filename fs-btrfs char-major-10-237 'pci:v00008086d00001572sv*sd*bc*sc*i*'
    show modinfo -b "$copy" -k "$kver" -F name symbol:ext4_get_block crc32c
    show modinfo -b "$copy" -k "$kver" -p e1000e
    show modinfo -b "$copy" -k "$kver" nonexistent_module
done
