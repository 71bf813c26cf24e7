#!/usr/bin/env bash
# Regenerate bins/symbol-order.txt: the functions a short call of the tools runs,
# which `make static` (and the benchmarks' build) asks the linker to place together
# at the start of the code (lld's --symbol-ordering-file). A one-module modprobe
# call is mostly process start: with its code spread over the 2 MiB of the static
# binary it faults in some 20 code pages (about 2.5 us each in a virtual machine);
# gathered, a handful. The list only orders code: a stale one (renamed functions)
# costs speed, never correctness, and `scripts/bench-modprobe.sh` reports how much of
# it the binary still has.
#
#   scripts/symbol-order.sh
#
# Runs the static release build (no ordering) under valgrind's callgrind for a set of
# short calls on the bookworm tree of scripts/fetch-reference.sh and lists every
# function that ran, by symbol name, in address order (with the trixie tree's
# .ko.xz, and zstd and gzip copies of a module, for the decompressors' code).
# valgrind's CPU has no AVX-512, so glibc's string functions pick other variants
# under it: every variant of a string function that ran is listed. Needs valgrind
# and python3.
#
# Environment: KMOD_RS_CACHE, CARGO_TARGET_DIR.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${KMOD_RS_CACHE:-/var/cache/kmod-rs}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
TRIPLE=x86_64-unknown-linux-gnu
OUT=$ROOT/bins/symbol-order.txt
export LC_ALL=C

die() { printf 'symbol-order: %s\n' "$*" >&2; exit 2; }
command -v valgrind >/dev/null || die "needs valgrind (apt-get install valgrind)"
command -v python3 >/dev/null || die "needs python3"
SRC=$CACHE/trees/bookworm-amd64
[ -f "$SRC/KVER" ] || die "no $SRC: run scripts/fetch-reference.sh first"
KVER=$(cat "$SRC/KVER")

(cd "$ROOT" && env -u KMOD_RS_SYMBOL_ORDER RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --target "$TRIPLE" --bin kmod) >&2 || die "static release build failed"
BIN=$TARGET_DIR/$TRIPLE/release/kmod

WORK=$(mktemp -d "${TMPDIR:-/tmp}/symbol-order.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/bin" "$WORK/empty.d"
cp "$BIN" "$WORK/kmod"
for t in modprobe modinfo lsmod insmod rmmod depmod; do ln -s ../kmod "$WORK/bin/$t"; done
# the real tree, indexed (by our depmod: the indexes are the same bytes as kmod's)
cp -al "$SRC" "$WORK/root"
"$WORK/bin/depmod" -b "$WORK/root" "$KVER"
P=(-d "$WORK/root" -S "$KVER" -C "$WORK/empty.d")
M=$WORK/root/lib/modules/$KVER/kernel/fs/btrfs/btrfs.ko

n=0
run() {
    n=$((n + 1))
    valgrind --tool=callgrind --demangle=no --callgrind-out-file="$WORK/cg.$n" \
        "$@" >/dev/null 2>"$WORK/err.$n" || true
}
run "$WORK/bin/modprobe" "${P[@]}" --show-depends --json btrfs
run "$WORK/bin/modprobe" "${P[@]}" --show-depends btrfs
run "$WORK/bin/modprobe" "${P[@]}" -a --show-depends ext4 'pci:v00008086d00001502sv*sd*bc*sc*i*' nosuchmodule
run "$WORK/bin/modprobe" "${P[@]}" -R snd-hda-intel
run "$WORK/bin/modprobe" "${P[@]}" -n -v -r btrfs
run "$WORK/bin/modinfo" -b "$WORK/root" -k "$KVER" btrfs
run "$WORK/bin/modinfo" -b "$WORK/root" -k "$KVER" --json "$M"
run "$WORK/bin/modinfo" -F firmware "$M"
run "$WORK/bin/lsmod"
run "$WORK/bin/lsmod" --json
run "$WORK/bin/insmod" /nonexistent.ko
run "$WORK/bin/rmmod" nosuchmodule
run "$WORK/kmod" --version
# the decompressors, on the trixie tree's .ko.xz (and a .ko.zst and .ko.gz made from
# a plain module), when it is there
TX=$CACHE/trees/trixie-amd64
if [ -f "$TX/KVER" ]; then
    TKVER=$(cat "$TX/KVER")
    cp -al "$TX" "$WORK/troot"
    "$WORK/bin/depmod" -b "$WORK/troot" "$TKVER"
    run "$WORK/bin/modinfo" -b "$WORK/troot" -k "$TKVER" btrfs
    run "$WORK/bin/modprobe" -d "$WORK/troot" -S "$TKVER" -C "$WORK/empty.d" --show-depends --json btrfs
fi
if command -v zstd > /dev/null && command -v gzip > /dev/null; then
    zstd -q -c "$M" > "$WORK/m.ko.zst" && run "$WORK/bin/modinfo" "$WORK/m.ko.zst"
    gzip -c "$M" > "$WORK/m.ko.gz" && run "$WORK/bin/modinfo" "$WORK/m.ko.gz"
fi

nm -n --defined-only "$WORK/kmod" > "$WORK/nm"
python3 - "$WORK" "$OUT" <<'EOF'
import glob, re, sys
work, out = sys.argv[1], sys.argv[2]
addr_of, names_at = {}, []
for line in open(f"{work}/nm"):
    p = line.split()
    if len(p) == 3 and p[1] in "tTwWiI":
        a = int(p[0], 16)
        addr_of.setdefault(p[2], a)
        names_at.append((a, p[2]))
ran = set()
for f in glob.glob(f"{work}/cg.*"):
    # a function's name is given once, where its id first appears (in a fn= or a
    # cfn= line); the fn= lines are the functions that ran
    names, ids = {}, []
    for line in open(f):
        m = re.match(r"^(c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if not m:
            continue
        kind, i, name = m.groups()
        if name:
            names[i] = name
        if kind == "fn":
            ids.append(i)
    for i in ids:
        name = re.sub(r"'\d+$", "", names.get(i, ""))
        if name == "(below main)":
            name = "__libc_start_main_impl"
        if name in addr_of:
            ran.add(name)
# glibc's string functions: every variant of one that ran
variant = re.compile(r"^(__(?:mem|str|stp|wcs|wmem|raw)[a-z]*)_(?:sse|ssse|avx|evex|erms)")
families = {m.group(1) for n in ran if (m := variant.match(n))}
for a, n in names_at:
    m = variant.match(n)
    if m and m.group(1) in families:
        ran.add(n)
ordered = sorted(ran, key=lambda n: (addr_of[n], n))
with open(out, "w") as f:
    f.write("\n".join(ordered) + "\n")
print(f"symbol-order: {len(ordered)} functions -> {out}", file=sys.stderr)
EOF
