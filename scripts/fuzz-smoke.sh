#!/usr/bin/env bash
# Fuzz smoke test: build the cargo-fuzz targets under fuzz/ and run each one for a
# short time; exit non-zero if any target crashes, leaks into an abort, times out
# or runs out of memory.
#
#   scripts/fuzz-smoke.sh                    # all targets, $FUZZ_SECONDS (20) s each
#   FUZZ_SECONDS=300 scripts/fuzz-smoke.sh module_elf fnmatch
#
# Environment:
#   FUZZ_SECONDS     seconds per target (default 20)
#   KMOD_RS_CACHE    where scripts/fetch-reference.sh put the module trees and the
#                    reference kmod (default /var/cache/kmod-rs); used only for seeds:
#                    without it the targets start from the built-in seeds alone
#   FUZZ_CRASH_DIR   if set, crash/timeout/oom inputs are also copied there
#   FUZZ_FRESH=1     start from the seeds only (forget fuzz/corpus/<target>)
#   FUZZ_NO_BUILD=1  do not build: run the binaries a previous run built
#
# Only a stable toolchain is needed: cargo-fuzz's nightly flags (-Zsanitizer=address,
# SanitizerCoverage) are enabled with RUSTC_BOOTSTRAP=1. Targets are built with debug
# assertions, so arithmetic overflow counts as a crash.
#
# Seeds are generated on every run from real data (never committed) into
# fuzz/seeds/<target>/; libFuzzer's growing corpus is fuzz/corpus/<target>/; crash
# inputs land in fuzz/artifacts/<target>/; full logs in fuzz/logs/<target>.log.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
FUZZ=$ROOT/fuzz
CACHE=${KMOD_RS_CACHE:-/var/cache/kmod-rs}
SECS=${FUZZ_SECONDS:-20}
ALL_TARGETS=(module_elf signature decompress index index_roundtrip fnmatch fnmatch_glibc)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi

export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never

log() { printf 'fuzz-smoke: %s\n' "$*" >&2; }

case $SECS in '' | *[!0-9]* | 0) log "FUZZ_SECONDS must be a positive whole number"; exit 2 ;; esac
for t in "${TARGETS[@]}"; do
    case " ${ALL_TARGETS[*]} " in *" $t "*) ;; *) log "unknown target '$t' (have: ${ALL_TARGETS[*]})"; exit 2 ;; esac
done

# Per-target libFuzzer options. Inputs are capped well below real module sizes: the
# seeds are small modules and 64 KiB slices, which keeps the execution rate high.
# fnmatch gets a short per-input timeout: any super-linear blowup is a bug. index
# stays small because crafted indexes can hold quadratically many values (nodes
# overlapping a shared value area), which makes large inputs slow.
opts_for() {
    case $1 in
        module_elf) echo "-max_len=65536 -timeout=10 -dict=$FUZZ/dicts/module_elf.dict" ;;
        signature) echo "-max_len=16384 -timeout=10" ;;
        decompress) echo "-max_len=65536 -timeout=10 -rss_limit_mb=2048" ;;
        index) echo "-max_len=8192 -timeout=10 -dict=$FUZZ/dicts/index.dict" ;;
        index_roundtrip) echo "-max_len=8192 -timeout=10 -dict=$FUZZ/dicts/fnmatch.dict" ;;
        fnmatch) echo "-max_len=4096 -timeout=2 -dict=$FUZZ/dicts/fnmatch.dict" ;;
        fnmatch_glibc) echo "-max_len=600 -timeout=2 -dict=$FUZZ/dicts/fnmatch.dict" ;;
    esac
}

# ---- cargo-fuzz ------------------------------------------------------------
if ! cargo fuzz --version >/dev/null 2>&1; then
    log "installing cargo-fuzz"
    cargo install cargo-fuzz --locked >&2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-smoke.XXXXXX")
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT

# ---- seeds -----------------------------------------------------------------
# kver_of TREE -> the tree's kernel release (from its KVER file), empty if absent
kver_of() {
    local f=$CACHE/trees/$1/KVER
    [ -r "$f" ] && head -n1 "$f" || true
}
# moddir_of TREE -> lib/modules/<kver> of a tree, empty if absent
moddir_of() {
    local k d
    k=$(kver_of "$1")
    [ -n "$k" ] || return 0
    for d in "$CACHE/trees/$1/lib/modules/$k" "$CACHE/trees/$1/usr/lib/modules/$k"; do
        if [ -d "$d/kernel" ]; then echo "$d"; return 0; fi
    done
}
# smallest DIR GLOB N [MINSIZE] -> the N smallest files matching GLOB under DIR
smallest() {
    { find "$1" -type f -name "$2" -size +"${4:-0}"c -printf '%s %p\n' 2>/dev/null || true; } |
        sort -n | awk -v n="$3" 'NR <= n { print $2 }'
}
# add DIR NAME < data: write one seed
add() { cat > "$1/$2"; }

seed_module_elf() {
    local out=$1 d tree f i=0
    d=$(moddir_of bookworm-amd64)
    if [ -n "$d" ]; then
        # the smallest modules, a few mid-sized ones whole, and 64 KiB head and
        # tail slices of a big one (header+sections / signature trailer)
        for f in $(smallest "$d/kernel" '*.ko' 4) $(smallest "$d/kernel" '*.ko' 3 40000); do
            i=$((i + 1)); add "$out" "amd64-$i-$(basename "$f")" < "$f"
        done
        f=$(smallest "$d/kernel" '*.ko' 1 1000000)
        if [ -n "$f" ]; then
            head -c 65536 "$f" | add "$out" "amd64-head64k-$(basename "$f")"
            tail -c 65536 "$f" | add "$out" "amd64-tail64k-$(basename "$f")"
        fi
    fi
    # other classes and byte orders: ELF32 LE, ELF64 BE, arm64
    for tree in bookworm-i386 bookworm-s390x bookworm-arm64; do
        d=$(moddir_of "$tree")
        [ -n "$d" ] || continue
        for f in $(smallest "$d/kernel" '*.ko' 2); do
            add "$out" "$tree-$(basename "$f")" < "$f"
        done
    done
    # trixie ships .ko.xz: decompress the smallest
    d=$(moddir_of trixie-amd64)
    if [ -n "$d" ] && command -v xz >/dev/null; then
        for f in $(smallest "$d/kernel" '*.ko.xz' 2); do
            xz -dc "$f" | add "$out" "trixie-$(basename "$f" .xz)"
        done
    fi
    # always at least a bare ELF header, so the target runs without the cache
    printf '\177ELF\002\001\001\000\000\000\000\000\000\000\000\000' | add "$out" bare-elf-header
}

# The PKCS#7 blobs of a few real signed modules (and one legacy-layout trailer),
# each prefixed with the target's selector byte (2 = PKCS#7, no signer/key id).
seed_signature() {
    local out=$1 d f len tree
    for tree in bookworm-amd64 bookworm-arm64 bookworm-i386; do
        d=$(moddir_of "$tree")
        [ -n "$d" ] || continue
        for f in $(smallest "$d/kernel" '*.ko' 2); do
            [ "$(tail -c 28 "$f")" = "~Module signature appended~" ] || continue
            len=$(tail -c 32 "$f" | head -c 4 | od -An -tu1 | awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 }')
            [ "$len" -gt 0 ] && [ "$len" -lt 16384 ] || continue
            { printf '\002'; tail -c $((28 + 12 + len)) "$f" | head -c "$len"; } | add "$out" "$tree-$(basename "$f").p7s"
        done
    done
    # legacy layout: selector 0x21 = id_type X509 (1), signer_len 0, key_id_len 1
    printf '\041\252\001\002\003\004' | add "$out" legacy-x509
}

seed_decompress() {
    local out=$1 d f small=$WORK/small
    d=$(moddir_of bookworm-amd64)
    f=""
    [ -z "$d" ] || f=$(smallest "$d/kernel" '*.ko' 1)
    if [ -n "$f" ]; then cp "$f" "$small"; else printf 'kmod-rs fuzz seed\n%.0s' {1..64} > "$small"; fi
    printf 'alias foo bar\n' > "$WORK/text"
    if command -v xz >/dev/null; then
        xz -c --check=crc32 --lzma2=dict=1MiB < "$small" | add "$out" small.xz
        xz -c --check=crc64 < "$WORK/text" | add "$out" text.xz
        xz -c < /dev/null | add "$out" empty.xz
        xz -c "$WORK/text" > "$WORK/a.xz"; cat "$WORK/a.xz" "$WORK/a.xz" | add "$out" concat.xz
        head -c 100 < "$out/small.xz" | add "$out" truncated.xz
    fi
    if command -v zstd >/dev/null; then
        zstd -q -c -19 < "$small" | add "$out" small.zst
        zstd -q -c < "$WORK/text" | add "$out" text.zst
        zstd -q -c < /dev/null | add "$out" empty.zst
        head -c 100 < "$out/small.zst" | add "$out" truncated.zst
    fi
    if command -v gzip >/dev/null; then
        gzip -9 -n -c < "$small" | add "$out" small.gz
        gzip -n -c < "$WORK/text" | add "$out" text.gz
        gzip -n -c < /dev/null | add "$out" empty.gz
        head -c 100 < "$out/small.gz" | add "$out" truncated.gz
    fi
    d=$(moddir_of trixie-amd64)
    if [ -n "$d" ]; then
        f=$(smallest "$d/kernel" '*.ko.xz' 1)
        [ -z "$f" ] || add "$out" "real-$(basename "$f")" < "$f"
    fi
}

# Builds small real indexes with the reference depmod over a handful of modules
# (serial drivers with wildcard aliases, their dependency, exported symbols), into
# $WORK/depmod/lib/modules/<kver>. Prints that directory, or nothing.
build_small_indexes() {
    local d k r f depmod=$CACHE/kmod34/bin/depmod
    if [ -f "$WORK/depmod.dir" ]; then cat "$WORK/depmod.dir"; return 0; fi
    d=$(moddir_of bookworm-amd64)
    k=$(kver_of bookworm-amd64)
    [ -n "$d" ] && [ -x "$depmod" ] || return 0
    r=$WORK/depmod/lib/modules/$k
    mkdir -p "$r"
    for f in $(smallest "$d/kernel/drivers/usb/serial" '*.ko' 4) \
        "$d/kernel/drivers/usb/serial/usbserial.ko" "$d/kernel/drivers/usb/serial/pl2303.ko" \
        $(smallest "$d/kernel" '*.ko' 3); do
        [ -f "$f" ] || continue
        mkdir -p "$r/$(dirname "${f#"$d"/}")"
        cp "$f" "$r/${f#"$d"/}"
    done
    for f in modules.builtin modules.builtin.modinfo modules.order; do
        [ ! -f "$d/$f" ] || cp "$d/$f" "$r/"
    done
    if "$depmod" -b "$WORK/depmod" "$k" 2>"$WORK/depmod.log"; then
        echo "$r" | tee "$WORK/depmod.dir"
    else
        log "reference depmod failed (index seeds limited):"; cat "$WORK/depmod.log" >&2
    fi
}

seed_index() {
    local out=$1 r f
    r=$(build_small_indexes)
    if [ -n "$r" ]; then
        for f in "$r"/modules.*.bin; do
            [ -s "$f" ] && add "$out" "small-$(basename "$f")" < "$f"
        done
    fi
    # a real full-size index if the cache has one (libFuzzer cuts it to -max_len)
    f=$(find "$CACHE/trees" -name modules.alias.bin -size -4M 2>/dev/null | head -n1 || true)
    [ -z "$f" ] || add "$out" real-modules.alias.bin < "$f"
    # header only: magic + version 2.1 + root offset 0
    printf '\260\007\364\127\000\002\000\001\000\000\000\000' | add "$out" header-only
}

# Lines "<priority byte>key<TAB>value" from the small tree's alias and symbol lists.
seed_index_roundtrip() {
    local out=$1 r f n=0
    printf '\001usb:v*p*d*\tfoo\n\001usb:v12*\tbar\n\000usb:v12*\tbaz\n\002pci:v*[0-9]\tqux\n\001usb:v1234' | add "$out" wild
    printf '\001a\tx\n\001ab\ty\n\001abc\tz\n\001b\tw\n\001\tempty\n\001ab' | add "$out" prefixes
    r=$(build_small_indexes)
    [ -n "$r" ] || return 0
    for f in modules.alias modules.symbols; do
        [ -f "$r/$f" ] || continue
        n=$((n + 1))
        awk '$1 == "alias" && n < 24 { n++; printf "%c%s\t%s\n", 1 + n % 3, $2, $3 }' "$r/$f" | add "$out" "$f-$n"
    done
}

seed_fnmatch_glibc() { seed_fnmatch "$@"; }

seed_fnmatch() {
    local out=$1 r i=0 pat
    # pattern NUL string: kernel-style aliases against matching/non-matching modaliases
    printf 'usb:v*p*d*dc*dsc*dp*ic*isc*ip*in*\000usb:v1234p5678d0100dc00dsc00dp00ic03isc01ip01in00' | add "$out" usb
    printf 'pci:v00008086d*sv*sd*bc02sc00i*\000pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00' | add "$out" pci
    printf 'acpi*:PNP0C0[9A]:*\000acpi:PNP0C0A:' | add "$out" class
    printf 'of:N*T*Cfsl,[!a-m]*\000of:NfooTbarCfsl,sec' | add "$out" negclass
    printf 'a\\*b?c[]]d[!]x][a-]\000a*bxc]d-' | add "$out" escapes
    printf '[[:alpha:]][[:digit:]]*[[:space:]]\000a1 ' | add "$out" posix
    printf '*a*a*a*a*a*a*a*a*a*a*a*a*b\000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' | add "$out" stars
    r=$(build_small_indexes)
    if [ -n "$r" ] && [ -f "$r/modules.alias" ]; then
        # the first alias of each module, against itself with the wildcards filled in
        while read -r pat; do
            i=$((i + 1))
            [ $i -le 16 ] || break
            printf '%s\000%s' "$pat" "$(printf '%s' "$pat" | sed 's/\*/0/g; s/?/x/g')" | add "$out" "alias-$i"
        done < <(awk '$1 == "alias" && !seen[$3]++ { print $2 }' "$r/modules.alias")
    fi
}

mkdir -p "$FUZZ/logs"
for t in "${TARGETS[@]}"; do
    rm -rf "${FUZZ:?}/seeds/$t"
    mkdir -p "$FUZZ/seeds/$t" "$FUZZ/corpus/$t" "$FUZZ/artifacts/$t"
    [ "${FUZZ_FRESH:-0}" != 1 ] || find "$FUZZ/corpus/$t" -type f -delete
    "seed_$t" "$FUZZ/seeds/$t"
    log "$t: $(find "$FUZZ/seeds/$t" -type f | wc -l) seeds"
done
[ -d "$CACHE/trees" ] || log "no module trees under $CACHE (run scripts/fetch-reference.sh): built-in seeds only"

# ---- build -----------------------------------------------------------------
# Everything is built first and the binaries are then run directly (not with
# `cargo fuzz run`, which would rebuild if the sources changed in the meantime).
if [ "${FUZZ_NO_BUILD:-0}" = 1 ]; then
    log "FUZZ_NO_BUILD=1: running the binaries already built"
else
    log "building ${TARGETS[*]}"
    for t in "${TARGETS[@]}"; do
        (cd "$FUZZ" && cargo fuzz build --debug-assertions "$t") >&2
    done
fi
HOST=$(rustc -vV | sed -n 's/^host: //p')
BIN=${CARGO_TARGET_DIR:-$FUZZ/target}/$HOST/release
for t in "${TARGETS[@]}"; do
    [ -x "$BIN/$t" ] || { log "no fuzz binary $BIN/$t"; exit 2; }
done
# what cargo fuzz run sets
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_odr_violation=0}

# ---- run -------------------------------------------------------------------
# stat NAME LOG -> libFuzzer's final statistic NAME (from -print_final_stats=1)
fstat() { sed -n "s/^stat::$1: *//p" "$2" | tail -n1; }
# done_field FIELD LOG -> FIELD of the last status line ("#N DONE cov: .. ft: ..")
done_field() {
    grep -E '^#[0-9]+' "$2" | tail -n1 | tr -s ' ' '\n' | awk -v f="$1:" 'prev == f { print; exit } { prev = $0 }'
}

failed=()
summary=$WORK/summary
printf '%-16s %6s %11s %9s %7s %7s %8s %7s  %s\n' target secs execs exec/s cov ft corpus rss_mb result > "$summary"
for t in "${TARGETS[@]}"; do
    logf=$FUZZ/logs/$t.log
    touch "$WORK/mark-$t"
    log "running $t for ${SECS}s"
    # shellcheck disable=SC2046 # word splitting of the option list is intended
    if (cd "$FUZZ" && "$BIN/$t" -artifact_prefix="$FUZZ/artifacts/$t/" -max_total_time="$SECS" \
        -print_final_stats=1 $(opts_for "$t") "corpus/$t" "seeds/$t") > "$logf" 2>&1; then
        result=ok
    else
        result=FAILED
        failed+=("$t")
    fi
    execs=$(fstat number_of_executed_units "$logf")
    rate=$(fstat average_exec_per_sec "$logf")
    rss=$(fstat peak_rss_mb "$logf")
    printf '%-16s %6s %11s %9s %7s %7s %8s %7s  %s\n' "$t" "$SECS" "${execs:-?}" "${rate:-?}" \
        "$(done_field cov "$logf")" "$(done_field ft "$logf")" \
        "$(done_field corp "$logf" | cut -d/ -f1)" "${rss:-?}" "$result" >> "$summary"
    if [ "$result" != ok ]; then
        log "$t FAILED; last lines of $logf:"
        grep -v '^#[0-9]' "$logf" | tail -n 60 >&2
        find "$FUZZ/artifacts/$t" -type f -newer "$WORK/mark-$t" | while read -r a; do
            log "input $a ($(wc -c < "$a") bytes): $(head -c 256 "$a" | od -An -tx1 | tr -d ' \n')"
            log "reproduce: (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --debug-assertions $t ${a#"$FUZZ"/})"
            log "       or: $BIN/$t $a"
            if [ -n "${FUZZ_CRASH_DIR:-}" ]; then mkdir -p "$FUZZ_CRASH_DIR"; cp "$a" "$FUZZ_CRASH_DIR/$t-$(basename "$a")"; fi
        done
    fi
done

echo
echo "corpus = inputs in libFuzzer's corpus at the end (fuzz/corpus/<target> on disk: grows across runs)"
cat "$summary"
if [ ${#failed[@]} -gt 0 ]; then
    log "FAILED: ${failed[*]} (logs in fuzz/logs/, inputs in fuzz/artifacts/)"
    exit 1
fi
