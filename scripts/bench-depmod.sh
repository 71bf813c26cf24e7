#!/usr/bin/env bash
# Benchmark (not a test): our depmod against kmod 34.2's, in the same run, on
#   bookworm-amd64       ~4000 plain .ko
#   bookworm-amd64-zstd  the same tree with every module compressed by `zstd -q`
#   trixie-amd64         ~4200 .ko.xz as Debian ships them
# (trees fetched by scripts/fetch-reference.sh), and check on the way that both write
# exactly the same index files.
#
#   scripts/bench-depmod.sh
#
# Each depmod runs as `depmod -b <copy> <kver>` on its own hard-linked copy of the
# tree (depmod only creates new files and renames them, so the cache is never
# written), ours with --no-cache (a full run: every module read). One untimed
# warm-up run per tool and tree (page cache, and the indexes exist before the timed
# runs, as on a real system), then $BENCH_REPEAT (3) timed runs; reported: the best
# wall time and the largest peak RSS (/usr/bin/time %M) of those runs, and
# ours/kmod ratios, as a markdown table. Afterwards the 11 outputs of both tools
# are compared byte for byte.
#
# Then the incremental cases (ours with its cache, modules.kmod-rs-cache.bin),
# each as a ratio to kmod's full run on the same tree in this same run, on
# $BENCH_INCR_TREES ("bookworm-amd64 trixie-amd64"):
#   full, no cache yet   the cache deleted before each run (the run writes it)
#   nothing changed      the cache and the indexes up to date
#   --check, unchanged   depmod --check on the same
#   one module added     a module of the tree (BENCH_ADDED, default
#                        kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko[.xz])
#                        put back before each run, after an untimed run without it
# and the cache's size. With BENCH_BASELINE=<a kmod-rs binary> (e.g. an older
# build), its full run is timed too ("today"), for the no-cache comparison.
#
# Reference: kmod 34.2 from $KMOD_RS_CACHE/kmod34 (default /var/cache/kmod-rs). Its
# bin/depmod is a sh wrapper that execs trixie's ld.so on trixie's kmod; this script
# runs the wrapper's exec line directly (ld.so --library-path ... --argv0 depmod kmod)
# so that kmod is not billed for a `sh` start (and its RSS is kmod's, not sh's).
# Ours: the static release build (build_ours in scripts/bench-lib.sh, as `make static`) through a symlink named depmod.
#
# Environment: KMOD_RS_CACHE, BENCH_REPEAT (3), BENCH_TREES ("bookworm-amd64
# bookworm-amd64-zstd trixie-amd64"; a name ending in -zstd is made from the tree
# without the suffix), BENCH_OUT (target/bench-depmod: the outputs of the last runs
# and diffs), CARGO_TARGET_DIR, BENCH_OURS (a depmod to use instead of ours, e.g. to
# check this script), BENCH_INCR_TREES, BENCH_ADDED, BENCH_BASELINE. Exit status: 0 if the outputs are identical, 1 if they differ,
# 2 on setup errors. The machine should be otherwise idle for meaningful numbers.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${KMOD_RS_CACHE:-/var/cache/kmod-rs}
REPEAT=${BENCH_REPEAT:-3}
read -r -a TREES <<< "${BENCH_TREES:-bookworm-amd64 bookworm-amd64-zstd trixie-amd64}"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${BENCH_OUT:-$TARGET_DIR/bench-depmod}
OUTPUTS=(modules.dep modules.dep.bin modules.alias modules.alias.bin modules.softdep
    modules.weakdep modules.symbols modules.symbols.bin modules.builtin.bin
    modules.builtin.alias.bin modules.devname)
export LC_ALL=C

log() { printf 'bench-depmod: %s\n' "$*" >&2; }
die() { log "$*"; exit 2; }

case $REPEAT in '' | *[!0-9]* | 0) die "BENCH_REPEAT must be a positive number" ;; esac
[ -n "${EPOCHREALTIME:-}" ] || die "needs bash >= 5 (EPOCHREALTIME)"
[ -x /usr/bin/time ] || die "needs GNU time for the peak RSS: apt-get install -y time"
command -v zstd > /dev/null || die "needs zstd: apt-get install -y zstd"

# ---- the reference ---------------------------------------------------------
# shellcheck source=scripts/bench-lib.sh
. "$ROOT/scripts/bench-lib.sh"
kmod34_direct depmod

# ---- ours ------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-depmod.XXXXXX")
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
mkdir -p "$WORK/bin" "$OUT"
if [ -n "${BENCH_OURS:-}" ]; then
    OURS=("$BENCH_OURS")
    OURS_DESC="$BENCH_OURS (BENCH_OURS)"
else
    build_ours
    ln -s "$OURS_BIN" "$WORK/bin/depmod"
    OURS=("$WORK/bin/depmod")
    OURS_DESC="$OURS_BIN through a symlink named depmod"
fi

# ---- helpers ---------------------------------------------------------------
# timed CMD... -> "wall_seconds peak_rss_kib exit_status" of one run, output discarded
timed() {
    local t0 t1 rc=0
    t0=$EPOCHREALTIME
    /usr/bin/time -f %M -o "$WORK/rss" "$@" > /dev/null 2> "$WORK/stderr" || rc=$?
    t1=$EPOCHREALTIME
    awk -v a="$t0" -v b="$t1" -v m="$(tail -n1 "$WORK/rss")" -v rc="$rc" \
        'BEGIN { printf "%.3f %d %d\n", b - a, m, rc }'
}
# bench CMD... -> "best_wall max_rss worst_status" over $REPEAT runs (after a warm-up)
bench() {
    local i line w m rc bw="" mm=0 st=0
    timed "$@" > /dev/null
    for ((i = 0; i < REPEAT; i++)); do
        line=$(timed "$@")
        read -r w m rc <<< "$line"
        if [ -z "$bw" ] || awk -v t="$w" -v b="$bw" 'BEGIN { exit !(t < b) }'; then bw=$w; fi
        [ "$m" -gt "$mm" ] && mm=$m
        [ "$rc" = 0 ] || st=$rc
    done
    echo "$bw $mm $st"
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# tree_dir NAME -> the tree's root (a -zstd name is made once under $WORK)
tree_dir() {
    local name=$1 base
    case $name in
    *-zstd)
        base=${name%-zstd}
        if [ ! -d "$WORK/$name" ]; then
            [ -d "$CACHE/trees/$base" ] || die "no $CACHE/trees/$base"
            log "$name: compressing every module of $base with zstd"
            cp -al "$CACHE/trees/$base" "$WORK/$name"
            # --rm only unlinks the hard link; zstd records the content size (kmod needs it)
            find "$WORK/$name/lib/modules" -type f -name '*.ko' -print0 |
                xargs -0 -n 400 -P 2 zstd -q --rm --
        fi
        echo "$WORK/$name"
        ;;
    *) echo "$CACHE/trees/$name" ;;
    esac
}

# ---- run -------------------------------------------------------------------
log "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); best of $REPEAT runs per figure"
TABLE=$WORK/table
DIFFS=0
rm -f "$OUT"/*.diff
{
    echo "| tree | modules | kmod s | ours s | ours/kmod time | kmod peak RSS MiB | ours peak RSS MiB | ours/kmod RSS | outputs |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
} > "$TABLE"
for tree in "${TREES[@]}"; do
    src=$(tree_dir "$tree")
    base=${tree%-zstd}
    kf=$CACHE/trees/$base/KVER
    [ -r "$kf" ] || die "no $kf: run scripts/fetch-reference.sh first"
    kver=$(head -n1 "$kf")
    [ -d "$src/lib/modules/$kver" ] || die "no lib/modules/$kver in $src"
    count=$(find "$src/lib/modules/$kver" -type f \( -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz' \) | wc -l)
    for tool in kmod ours; do
        rm -rf "$WORK/copy-$tool"
        cp -al "$src" "$WORK/copy-$tool"
    done
    log "$tree ($kver, $count modules): kmod"
    read -r kt km ks <<< "$(bench "${KMOD34[@]}" -b "$WORK/copy-kmod" "$kver")"
    log "$tree: ours"
    read -r ot om os <<< "$(bench "${OURS[@]}" --no-cache -b "$WORK/copy-ours" "$kver")"
    # same outputs?
    what=()
    [ "$ks" = 0 ] || what+=("kmod exit $ks")
    [ "$os" = 0 ] || what+=("ours exit $os")
    mkdir -p "$OUT/$tree"
    for f in "${OUTPUTS[@]}"; do
        k=$WORK/copy-kmod/lib/modules/$kver/$f
        u=$WORK/copy-ours/lib/modules/$kver/$f
        cp "$u" "$OUT/$tree/$f" 2> /dev/null || true
        if ! cmp -s "$k" "$u"; then
            what+=("$f")
            case $f in
            *.bin) cmp "$k" "$u" > "$OUT/$tree.$f.diff" 2>&1 || true ;;
            *) diff -u "$k" "$u" > "$OUT/$tree.$f.diff" 2>&1 || true ;;
            esac
        fi
    done
    if [ ${#what[@]} = 0 ]; then
        same="identical"
    else
        same="DIFFERENT: ${what[*]}"
        DIFFS=1
    fi
    echo "| $tree | $count | $kt | $ot | $(ratio "$ot" "$kt") | $(mib "$km") | $(mib "$om") | $(ratio "$om" "$km") | $same |" >> "$TABLE"
    rm -rf "$WORK/copy-kmod" "$WORK/copy-ours"
    echo "$tree $kt" >> "$WORK/kmod-times"
done

# ---- incremental -------------------------------------------------------------
read -r -a INCR_TREES <<< "${BENCH_INCR_TREES-bookworm-amd64 trixie-amd64}"
INCR=$WORK/incr
{
    echo "| tree | case | kmod full s | ours s | ours/kmod | goal |"
    echo "|---|---|---:|---:|---:|---|"
} > "$INCR"
# best_of CMD...: best wall time of $REPEAT runs, each after running $SETUP (untimed)
best_of() {
    local i line w m rc bw=""
    for ((i = 0; i < REPEAT; i++)); do
        [ -z "${SETUP:-}" ] || eval "$SETUP" > /dev/null 2>&1
        line=$(timed "$@")
        read -r w m rc <<< "$line"
        [ "$rc" = 0 ] || [ "$rc" = 1 ] || die "failed ($rc): $* ($(cat "$WORK/stderr"))"
        if [ -z "$bw" ] || awk -v t="$w" -v b="$bw" 'BEGIN { exit !(t < b) }'; then bw=$w; fi
    done
    echo "$bw"
}
row() { echo "| $1 | $2 | $3 | $4 | $(ratio "$4" "$3") | $5 |" >> "$INCR"; }
CACHE_SIZES=()
for tree in "${INCR_TREES[@]}"; do
    src=$(tree_dir "$tree")
    kver=$(head -n1 "$CACHE/trees/${tree%-zstd}/KVER")
    kt=$(awk -v t="$tree" '$1 == t { print $2 }' "$WORK/kmod-times" 2>/dev/null || true)
    if [ -z "$kt" ]; then
        rm -rf "$WORK/copy-kmod"; cp -al "$src" "$WORK/copy-kmod"
        log "$tree: kmod (full run, for the ratios)"
        read -r kt _ _ <<< "$(bench "${KMOD34[@]}" -b "$WORK/copy-kmod" "$kver")"
        rm -rf "$WORK/copy-kmod"
    fi
    c=$WORK/copy-incr
    rm -rf "$c"; cp -al "$src" "$c"
    d=$c/lib/modules/$kver
    run_ours() { "${OURS[@]}" "$@" -b "$c" "$kver" > /dev/null 2>&1; }
    log "$tree: incremental cases"
    run_ours --no-cache
    if [ -n "${BENCH_BASELINE:-}" ]; then
        mkdir -p "$WORK/base"; ln -sf "$BENCH_BASELINE" "$WORK/base/depmod"
        row "$tree" "full, today (BENCH_BASELINE)" "$kt" "$(best_of "$WORK/base/depmod" -b "$c" "$kver")" ""
    fi
    row "$tree" "full, --no-cache" "$kt" "$(best_of "${OURS[@]}" --no-cache -b "$c" "$kver")" "not slower than today"
    row "$tree" "full, no cache yet (writes it)" "$kt" \
        "$(SETUP="rm -f '$d/modules.kmod-rs-cache.bin'" best_of "${OURS[@]}" -b "$c" "$kver")" ""
    # twice: the second run records the outputs' identities
    run_ours; run_ours
    goal="≤ 0.05"
    case $tree in trixie*) goal="≤ 0.03" ;; esac
    row "$tree" "nothing changed" "$kt" "$(best_of "${OURS[@]}" -b "$c" "$kver")" "$goal"
    row "$tree" "--check, nothing changed" "$kt" "$(best_of "${OURS[@]}" --check -b "$c" "$kver")" "≤ 0.05"
    CACHE_SIZES+=("$tree: $(stat -c %s "$d/modules.kmod-rs-cache.bin") bytes ($(find "$d" -type f -name '*.ko*' | wc -l) modules)")
    added=${BENCH_ADDED:-kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko}
    [ -e "$d/$added" ] || added=$added.xz
    if [ -e "$d/$added" ]; then
        cp -l "$d/$added" "$WORK/added.ko"
        goal=""
        case $tree in trixie*) goal="≤ 0.10" ;; esac
        SETUP="rm -f '$d/$added' && $(printf '%q ' "${OURS[@]}") -b '$c' '$kver' && ln '$WORK/added.ko' '$d/$added'"
        row "$tree" "one module added ($(basename "$added"))" "$kt" "$(best_of "${OURS[@]}" -b "$c" "$kver")" "$goal"
        SETUP=""
        rm -f "$WORK/added.ko"
    fi
    # the cases changed nothing: the outputs are still kmod's
    for f in "${OUTPUTS[@]}"; do
        if ! cmp -s "$d/$f" "$OUT/${tree}/$f" 2> /dev/null && [ -e "$OUT/${tree}/$f" ]; then
            echo "incremental $tree: $f differs from the full run's" >> "$WORK/incr-diffs"
            DIFFS=1
        fi
    done
    rm -rf "$c"
done

echo
echo "depmod: kmod 34.2 vs kmod-rs, \`depmod -b <copy of the tree> <kver>\`, wall seconds (best of $REPEAT runs after a warm-up) and peak RSS (largest of those runs)"
echo
echo "- kmod = ${KMOD34[-1]}, run as: ld.so --library-path <trixie libs> --argv0 depmod kmod ...  (the wrapper's exec line, without its sh)"
echo "- ours = $OURS_DESC"
echo "- $(nproc) CPUs; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
echo
cat "$TABLE"
if [ ${#INCR_TREES[@]} -gt 0 ]; then
    echo
    echo "incremental depmod (ours with its cache), best of $REPEAT runs; ratios to kmod's full run above"
    echo
    cat "$INCR"
    echo
    echo "cache size: ${CACHE_SIZES[*]}"
    [ ! -e "$WORK/incr-diffs" ] || cat "$WORK/incr-diffs"
fi
if [ $DIFFS = 1 ]; then
    echo
    echo "OUTPUTS DIFFER: diffs in $OUT/"
    for f in "$OUT"/*.diff; do
        [ -e "$f" ] || continue
        echo "--- $f (first 20 lines)"
        head -n 20 "$f"
    done
    exit 1
fi
echo
echo "outputs identical (all 11 index files) for every tree"
