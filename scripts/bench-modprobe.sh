#!/usr/bin/env bash
# Benchmark (not a test): what image builders do with modprobe, ours against kmod
# 34.2 on the same tree in the same run, as ratios; and a check on the way that the
# text outputs are identical.
#
#   scripts/bench-modprobe.sh
#
# On bookworm-amd64 (4,000 plain .ko, indexed by kmod 34.2's depmod in a scratch
# copy; an empty configuration directory):
#   loop        kmod: one `modprobe --show-depends NAME` per module of the tree
#               (what initramfs builders do today), the whole tree
#   closure     ours: `modprobe -a --show-depends --json` of every module in one call
#               (goal: <= 0.01 x loop)
#   one         one module (btrfs), one call, process start included, averaged over
#               $BENCH_ONE calls: kmod's text, ours --json (goal: <= 0.5 x kmod)
#   batch       text `modprobe -a --show-depends` with $BENCH_BATCH operands per call
#               over the whole tree, as initramfs-tools passes them: kmod's and ours
#               (goal: no slower than kmod)
# Wall-clock seconds, best of $BENCH_REPEAT runs, output to /dev/null; then the batch
# outputs of both are captured and compared (full diff in $BENCH_OUT).
#
# Reference: kmod 34.2 from $KMOD_RS_CACHE/kmod34, run through its loader directly
# (scripts/bench-lib.sh): no `sh` start billed to it. Ours: target/release/kmod.
#
# Environment: KMOD_RS_CACHE, BENCH_REPEAT (3), BENCH_BATCH (400), BENCH_ONE (200),
# BENCH_TREE (bookworm-amd64), BENCH_OUT (target/bench-modprobe), CARGO_TARGET_DIR,
# BENCH_LIMIT (only the first N modules: a quick check of the script, not a
# benchmark). Exit status: 0 if the text outputs are identical and the closure lists
# every module, 1 otherwise, 2 on setup errors.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${KMOD_RS_CACHE:-/var/cache/kmod-rs}
REPEAT=${BENCH_REPEAT:-3}
BATCH=${BENCH_BATCH:-400}
ONE=${BENCH_ONE:-200}
TREE=${BENCH_TREE:-bookworm-amd64}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${BENCH_OUT:-$TARGET_DIR/bench-modprobe}
export LC_ALL=C

log() { printf 'bench-modprobe: %s\n' "$*" >&2; }
die() { log "$*"; exit 2; }

for v in "$REPEAT" "$BATCH" "$ONE" "${BENCH_LIMIT:-1}"; do
    case $v in '' | *[!0-9]* | 0) die "BENCH_REPEAT, BENCH_BATCH, BENCH_ONE, BENCH_LIMIT: positive numbers" ;; esac
done
[ -n "${EPOCHREALTIME:-}" ] || die "needs bash >= 5 (EPOCHREALTIME)"

# shellcheck source=scripts/bench-lib.sh
. "$ROOT/scripts/bench-lib.sh"
kmod34_direct modprobe
KMOD_DEPMOD=$CACHE/kmod34/bin/depmod

log "cargo build --release"
(cd "$ROOT" && cargo build --release) >&2 || die "cargo build --release failed"
[ -x "$TARGET_DIR/release/kmod" ] || die "no $TARGET_DIR/release/kmod"

SRC=$CACHE/trees/$TREE
[ -f "$SRC/KVER" ] || die "no $SRC: run scripts/fetch-reference.sh first"
KVER=$(cat "$SRC/KVER")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-modprobe.XXXXXX")
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
mkdir -p "$WORK/bin" "$WORK/empty.d" "$OUT"
cp -al "$SRC" "$WORK/root"
"$KMOD_DEPMOD" -b "$WORK/root" "$KVER" || die "kmod's depmod failed"
ln -s "$TARGET_DIR/release/kmod" "$WORK/bin/modprobe"
OURS=("$WORK/bin/modprobe")
BASE=(-d "$WORK/root" -S "$KVER" -C "$WORK/empty.d")
MODDIR=$WORK/root/lib/modules/$KVER
sed 's/:.*//; s#.*/##; s#\..*##; s#-#_#g' "$MODDIR/modules.dep" > "$WORK/names"
if [ -n "${BENCH_LIMIT:-}" ]; then
    head -n "$BENCH_LIMIT" "$WORK/names" > "$WORK/n" && mv "$WORK/n" "$WORK/names"
fi
N=$(wc -l < "$WORK/names")
mapfile -t NAMES < "$WORK/names"

# elapsed CMD... -> wall seconds of one run, output discarded
elapsed() {
    local t0 t1
    t0=$EPOCHREALTIME
    "$@" > /dev/null 2>&1 || true
    t1=$EPOCHREALTIME
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
}
best() {
    local i t b=""
    for ((i = 0; i < REPEAT; i++)); do
        t=$(elapsed "$@")
        if [ -z "$b" ] || awk -v t="$t" -v b="$b" 'BEGIN { exit !(t < b) }'; then b=$t; fi
    done
    echo "$b"
}
loop_kmod() { xargs -n 1 "${KMOD34[@]}" "${BASE[@]}" --show-depends < "$WORK/names"; }
closure_ours() { "${OURS[@]}" "${BASE[@]}" -a --show-depends --json "${NAMES[@]}"; }
one_kmod() { local i; for ((i = 0; i < ONE; i++)); do "${KMOD34[@]}" "${BASE[@]}" --show-depends btrfs; done; }
one_ours() { local i; for ((i = 0; i < ONE; i++)); do "${OURS[@]}" "${BASE[@]}" --show-depends --json btrfs; done; }
one_ours_text() { local i; for ((i = 0; i < ONE; i++)); do "${OURS[@]}" "${BASE[@]}" --show-depends btrfs; done; }
batch_kmod() { xargs -n "$BATCH" "${KMOD34[@]}" "${BASE[@]}" -a --show-depends < "$WORK/names"; }
batch_ours() { xargs -n "$BATCH" "${OURS[@]}" "${BASE[@]}" -a --show-depends < "$WORK/names"; }

log "$TREE: $N modules, best of $REPEAT"
t_loop=$(best loop_kmod)
t_closure=$(best closure_ours)
t_one_k=$(best one_kmod)
t_one_o=$(best one_ours)
t_one_t=$(best one_ours_text)
t_batch_k=$(best batch_kmod)
t_batch_o=$(best batch_ours)
per() { awk -v t="$1" -v n="$ONE" 'BEGIN { printf "%.2f", 1000 * t / n }'; }
batches=$(( (N + BATCH - 1) / BATCH ))
perb() { awk -v t="$1" -v n="$batches" 'BEGIN { printf "%.1f", 1000 * t / n }'; }

status=0
closure_ours > "$WORK/closure.json"
if ! python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
ok = [o for o in d["operands"] if o["result"] == "ok"]
sys.exit(0 if len(ok) == int(sys.argv[2]) else 1)' "$WORK/closure.json" "$N"; then
    log "the closure does not resolve every module"
    status=1
fi
batch_kmod > "$WORK/k.out" 2> "$WORK/k.err" || true
batch_ours > "$WORK/o.out" 2> "$WORK/o.err" || true
if ! cmp -s "$WORK/k.out" "$WORK/o.out" || ! cmp -s "$WORK/k.err" "$WORK/o.err"; then
    diff "$WORK/k.out" "$WORK/o.out" > "$OUT/batch.diff" || true
    log "batch outputs differ: $OUT/batch.diff"
    status=1
fi

printf '%-44s %10s %10s %7s %s\n' "benchmark ($TREE, $N modules)" kmod kmod-rs ratio goal
printf '%-44s %9ss %9ss %7s %s\n' "closure of every module (loop vs one call)" "$t_loop" "$t_closure" "$(ratio "$t_closure" "$t_loop")" "<= 0.01"
printf '%-44s %8sms %8sms %7s %s\n' "one module, one call (json)" "$(per "$t_one_k")" "$(per "$t_one_o")" "$(ratio "$t_one_o" "$t_one_k")" "<= 0.5"
printf '%-44s %8sms %8sms %7s %s\n' "one module, one call (text)" "$(per "$t_one_k")" "$(per "$t_one_t")" "$(ratio "$t_one_t" "$t_one_k")" ""
printf '%-44s %8sms %8sms %7s %s\n' "text -a --show-depends, $BATCH per call" "$(perb "$t_batch_k")" "$(perb "$t_batch_o")" "$(ratio "$t_batch_o" "$t_batch_k")" "<= 1"
exit $status
