#!/usr/bin/env bash
# Benchmark (not a test): our modinfo against kmod 34.2's, over every module of the
# amd64 trees fetched by scripts/fetch-reference.sh, in the same run; and check on
# the way that both print exactly the same thing.
#
#   scripts/bench-modinfo.sh
#
# For each tree (bookworm-amd64: plain .ko, trixie-amd64: .ko.xz) it times
#   per-module  one invocation per module   (xargs -n1)
#   batch-N     N modules per invocation    (xargs -n N, default 200)
# as wall-clock seconds for the whole tree, best of $BENCH_REPEAT (3) runs, output
# to /dev/null. Then it runs each mode once more with the output captured and
# diffs stdout, stderr and the exit status of both tools (full diffs are kept in
# $BENCH_OUT, default target/bench-modinfo/).
#
# Reference: kmod 34.2 from $KMOD_RS_CACHE/kmod34 (default /var/cache/kmod-rs). Its
# bin/modinfo is a sh wrapper that execs trixie's ld.so on trixie's kmod; timing
# the wrapper would bill kmod for a `sh` start per call, so the benchmark runs the
# wrapper's exec line directly (ld.so --library-path ... --argv0 modinfo kmod) and
# reports the wrapper's own overhead separately.
# Ours: the static release build (build_ours in scripts/bench-lib.sh, as `make static`) through a symlink named modinfo.
#
# Environment: KMOD_RS_CACHE, BENCH_REPEAT (3), BENCH_BATCH (200),
# BENCH_TREES ("bookworm-amd64 trixie-amd64"), BENCH_OUT (target/bench-modinfo),
# CARGO_TARGET_DIR, BENCH_LIMIT (only the first N modules of each tree: a quick
# check of the script itself, not a benchmark). Exit status: 0 if the outputs are identical, 1 if they differ,
# 2 on setup errors. The machine should be otherwise idle for meaningful numbers.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${KMOD_RS_CACHE:-/var/cache/kmod-rs}
REPEAT=${BENCH_REPEAT:-3}
BATCH=${BENCH_BATCH:-200}
read -r -a TREES <<< "${BENCH_TREES:-bookworm-amd64 trixie-amd64}"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${BENCH_OUT:-$TARGET_DIR/bench-modinfo}
export LC_ALL=C

log() { printf 'bench-modinfo: %s\n' "$*" >&2; }
die() { log "$*"; exit 2; }

case $REPEAT in '' | *[!0-9]* | 0) die "BENCH_REPEAT must be a positive number" ;; esac
case $BATCH in '' | *[!0-9]* | 0) die "BENCH_BATCH must be a positive number" ;; esac
case ${BENCH_LIMIT:-1} in '' | *[!0-9]* | 0) die "BENCH_LIMIT must be a positive number" ;; esac
[ -n "${EPOCHREALTIME:-}" ] || die "needs bash >= 5 (EPOCHREALTIME)"

# ---- the reference ---------------------------------------------------------
# shellcheck source=scripts/bench-lib.sh
. "$ROOT/scripts/bench-lib.sh"
kmod34_direct modinfo

# ---- ours ------------------------------------------------------------------
build_ours

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-modinfo.XXXXXX")
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
mkdir -p "$WORK/bin" "$OUT"
rm -f "$OUT"/*.diff
ln -s "$OURS_BIN" "$WORK/bin/modinfo"
OURS=("$WORK/bin/modinfo")

# ---- helpers ---------------------------------------------------------------
# elapsed CMD... -> wall seconds of one run, output discarded; a non-zero exit is
# remembered in $WORK/nonzero (xargs exits 123 when some invocation failed)
elapsed() {
    local t0 t1 rc=0
    t0=$EPOCHREALTIME
    "$@" > /dev/null 2>&1 || rc=$?
    t1=$EPOCHREALTIME
    [ $rc = 0 ] || echo "$rc: $*" >> "$WORK/nonzero"
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}
# best CMD... -> the smallest of $REPEAT wall times
best() {
    local i t b=""
    for ((i = 0; i < REPEAT; i++)); do
        t=$(elapsed "$@")
        if [ -z "$b" ] || awk -v t="$t" -v b="$b" 'BEGIN { exit !(t < b) }'; then b=$t; fi
    done
    echo "$b"
}

# compare NAME LIST N -> run both tools once with N modules per call, outputs kept;
# prints "identical" or a short description, full diffs under $OUT/NAME.*
compare() {
    local name=$1 list=$2 n=$3 tool rc
    for tool in kmod ours; do
        rc=0
        if [ $tool = kmod ]; then
            xargs -0 -n "$n" -a "$list" "${KMOD34[@]}" > "$WORK/$tool.out" 2> "$WORK/$tool.err" || rc=$?
        else
            xargs -0 -n "$n" -a "$list" "${OURS[@]}" > "$WORK/$tool.out" 2> "$WORK/$tool.err" || rc=$?
        fi
        echo "$rc" > "$WORK/$tool.rc"
    done
    local what=()
    diff -u "$WORK/kmod.out" "$WORK/ours.out" > "$OUT/$name.stdout.diff" || what+=("stdout: $(grep -c '^[-+][^-+]' "$OUT/$name.stdout.diff") lines")
    diff -u "$WORK/kmod.err" "$WORK/ours.err" > "$OUT/$name.stderr.diff" || what+=("stderr: $(grep -c '^[-+][^-+]' "$OUT/$name.stderr.diff") lines")
    cmp -s "$WORK/kmod.rc" "$WORK/ours.rc" || what+=("xargs status $(cat "$WORK/kmod.rc") vs $(cat "$WORK/ours.rc")")
    [ -s "$OUT/$name.stdout.diff" ] || rm -f "$OUT/$name.stdout.diff"
    [ -s "$OUT/$name.stderr.diff" ] || rm -f "$OUT/$name.stderr.diff"
    if [ ${#what[@]} = 0 ]; then
        echo "identical ($(wc -l < "$WORK/kmod.out") lines)"
    else
        local IFS=';'
        echo "DIFFERENT (${what[*]})"
    fi
}

# ---- run -------------------------------------------------------------------
log "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); best of $REPEAT runs per figure"
TABLE=$WORK/table
DIFFS=0
printf '%-16s %7s %-11s %9s %9s %10s  %s\n' tree modules mode kmod_s ours_s ours/kmod output > "$TABLE"
first_list=""
for tree in "${TREES[@]}"; do
    kf=$CACHE/trees/$tree/KVER
    [ -r "$kf" ] || die "no $kf: run scripts/fetch-reference.sh first"
    kver=$(head -n1 "$kf")
    dir=""
    for d in "$CACHE/trees/$tree/lib/modules/$kver" "$CACHE/trees/$tree/usr/lib/modules/$kver"; do
        if [ -d "$d" ]; then dir=$d; break; fi
    done
    [ -n "$dir" ] || die "no lib/modules/$kver in $CACHE/trees/$tree"
    list=$WORK/$tree.list
    find "$dir" -type f \( -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz' \) -print0 |
        sort -z > "$list"
    if [ -n "${BENCH_LIMIT:-}" ]; then
        head -z -n "$BENCH_LIMIT" "$list" > "$list.head"
        mv "$list.head" "$list"
    fi
    count=$(tr -cd '\0' < "$list" | wc -c)
    [ "$count" -gt 0 ] || die "no modules under $dir"
    [ -n "$first_list" ] || first_list=$list
    log "$tree ($kver): $count modules"
    # sanity: our modinfo works at all
    first=$(head -z -n1 "$list" | tr -d '\0')
    "${OURS[@]}" "$first" > /dev/null || die "our modinfo fails on $first"

    for mode in per-module "batch-$BATCH"; do
        if [ "$mode" = per-module ]; then n=1; else n=$BATCH; fi
        log "$tree $mode: timing kmod"
        tk=$(best xargs -0 -n "$n" -a "$list" "${KMOD34[@]}")
        log "$tree $mode: timing ours"
        to=$(best xargs -0 -n "$n" -a "$list" "${OURS[@]}")
        log "$tree $mode: comparing outputs"
        same=$(compare "$tree.$mode" "$list" "$n")
        case $same in identical*) ;; *) DIFFS=1 ;; esac
        printf '%-16s %7s %-11s %9s %9s %10s  %s\n' "$tree" "$count" "$mode" "$tk" "$to" "$(ratio "$to" "$tk")" "$same" >> "$TABLE"
    done
done

# the wrapper's overhead: the same 500 single-module calls through the sh wrapper
# and through the direct loader call used above
head -z -n 500 "$first_list" > "$WORK/sample"
ns=$(tr -cd '\0' < "$WORK/sample" | wc -c)
log "timing the kmod34 wrapper on $ns single-module calls"
tw=$(best xargs -0 -n1 -a "$WORK/sample" "$WRAPPER")
td=$(best xargs -0 -n1 -a "$WORK/sample" "${KMOD34[@]}")
per_call() { awk -v t="$1" -v n="$ns" 'BEGIN { printf "%.3f", 1000 * t / n }'; }

echo
echo "modinfo: kmod 34.2 vs kmod-rs, wall seconds for a whole tree, best of $REPEAT runs, output to /dev/null"
echo "  kmod = ${KMOD34[-1]}, run as: ld.so --library-path <trixie libs> --argv0 modinfo kmod MODULE...  (the wrapper's exec line, without its sh)"
echo "  ours = $OURS_BIN through a symlink named modinfo"
echo "  $(nproc) CPUs; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
echo
cat "$TABLE"
echo
echo "kmod34 wrapper (sh + exec) on $ns single-module calls: $tw s ($(per_call "$tw") ms/call)" \
    "vs direct loader call $td s ($(per_call "$td") ms/call): sh adds $(awk -v a="$tw" -v b="$td" -v n="$ns" 'BEGIN { printf "%.3f", 1000 * (a - b) / n }') ms/call"
if [ -s "$WORK/nonzero" ]; then
    echo
    echo "non-zero exits during timing (some module failed; see the output comparison):"
    sort -u "$WORK/nonzero" | cut -c1-200 | sed 's/^/  /'
fi
if [ $DIFFS = 1 ]; then
    echo
    echo "OUTPUTS DIFFER: diffs in $OUT/"
    for f in "$OUT"/*.diff; do
        [ -e "$f" ] || continue
        echo "--- $f (first 40 lines)"
        head -n 40 "$f"
    done
    exit 1
fi
echo "outputs identical (stdout, stderr, exit status) for every tree and mode"
