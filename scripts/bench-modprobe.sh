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
#               $BENCH_ONE calls: kmod's text, ours --json (goal: <= 0.5 x kmod),
#               from a bash loop (best of $BENCH_REPEAT averages, and the median
#               call with the tools taking turns; the loop's fork of the script's
#               shell is billed to both) and from posix_spawn (python3: no shell
#               fork; the median call, the tools taking turns)
#   batch       text `modprobe -a --show-depends` with $BENCH_BATCH operands per call
#               over the whole tree, as initramfs-tools passes them: kmod's and ours
#               (goal: no slower than kmod)
# Wall-clock and CPU (user + system) seconds, each the best of $BENCH_REPEAT runs,
# output to /dev/null; then the batch
# outputs of both are captured and compared (full diff in $BENCH_OUT).
#
# Reference: kmod 34.2 from $KMOD_RS_CACHE/kmod34, run through its loader directly
# (scripts/bench-lib.sh): no `sh` start billed to it. Ours: the static release build (build_ours in scripts/bench-lib.sh).
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

build_ours

SRC=$CACHE/trees/$TREE
[ -f "$SRC/KVER" ] || die "no $SRC: run scripts/fetch-reference.sh first"
KVER=$(cat "$SRC/KVER")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-modprobe.XXXXXX")
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
mkdir -p "$WORK/bin" "$WORK/empty.d" "$OUT"
cp -al "$SRC" "$WORK/root"
"$KMOD_DEPMOD" -b "$WORK/root" "$KVER" || die "kmod's depmod failed"
ln -s "$OURS_BIN" "$WORK/bin/modprobe"
OURS=("$WORK/bin/modprobe")
BASE=(-d "$WORK/root" -S "$KVER" -C "$WORK/empty.d")
MODDIR=$WORK/root/lib/modules/$KVER
sed 's/:.*//; s#.*/##; s#\..*##; s#-#_#g' "$MODDIR/modules.dep" > "$WORK/names"
if [ -n "${BENCH_LIMIT:-}" ]; then
    head -n "$BENCH_LIMIT" "$WORK/names" > "$WORK/n" && mv "$WORK/n" "$WORK/names"
fi
N=$(wc -l < "$WORK/names")
mapfile -t NAMES < "$WORK/names"

# elapsed CMD... -> "wall cpu" seconds of one run (cpu: user + system of every
# process it started), output discarded. The CPU time is the steadier figure on a
# busy machine.
elapsed() {
    local TIMEFORMAT='%R %U %S' t
    t=$( { time "$@" > /dev/null 2>&1; } 2>&1 ) || true
    awk '{ printf "%.4f %.4f\n", $1, $2 + $3 }' <<< "$t"
}
# best CMD... -> the smallest wall and the smallest cpu time of $REPEAT runs
best() {
    local i t w c bw="" bc=""
    for ((i = 0; i < REPEAT; i++)); do
        t=$(elapsed "$@")
        read -r w c <<< "$t"
        if [ -z "$bw" ] || awk -v t="$w" -v b="$bw" 'BEGIN { exit !(t < b) }'; then bw=$w; fi
        if [ -z "$bc" ] || awk -v t="$c" -v b="$bc" 'BEGIN { exit !(t < b) }'; then bc=$c; fi
    done
    echo "$bw $bc"
}
loop_kmod() { xargs -n 1 "${KMOD34[@]}" "${BASE[@]}" --show-depends < "$WORK/names"; }
closure_ours() { "${OURS[@]}" "${BASE[@]}" -a --show-depends --json "${NAMES[@]}"; }
one_kmod() { local i; for ((i = 0; i < ONE; i++)); do "${KMOD34[@]}" "${BASE[@]}" --show-depends btrfs; done; }
one_ours() { local i; for ((i = 0; i < ONE; i++)); do "${OURS[@]}" "${BASE[@]}" --show-depends --json btrfs; done; }
one_ours_text() { local i; for ((i = 0; i < ONE; i++)); do "${OURS[@]}" "${BASE[@]}" --show-depends btrfs; done; }
batch_kmod() { xargs -n "$BATCH" "${KMOD34[@]}" "${BASE[@]}" -a --show-depends < "$WORK/names"; }
batch_ours() { xargs -n "$BATCH" "${OURS[@]}" "${BASE[@]}" -a --show-depends < "$WORK/names"; }

# interleaved -> the median wall seconds of one call from this script's bash loop,
# kmod's text, ours --json and ours text taking turns call by call ($ONE x
# $REPEAT calls each): one line each
interleaved() {
    local i t0 t1 t2 t3 list
    local -a k=() o=() t=()
    for ((i = 0; i < ONE * REPEAT; i++)); do
        t0=$EPOCHREALTIME
        "${KMOD34[@]}" "${BASE[@]}" --show-depends btrfs > /dev/null 2>&1
        t1=$EPOCHREALTIME
        "${OURS[@]}" "${BASE[@]}" --show-depends --json btrfs > /dev/null 2>&1
        t2=$EPOCHREALTIME
        "${OURS[@]}" "${BASE[@]}" --show-depends btrfs > /dev/null 2>&1
        t3=$EPOCHREALTIME
        k+=("$t0 $t1") o+=("$t1 $t2") t+=("$t2 $t3")
    done
    for list in "${k[*]}" "${o[*]}" "${t[*]}"; do
        # shellcheck disable=SC2086 # pairs of numbers, split on purpose
        printf '%s %s\n' $list | awk '{ print $2 - $1 }' | sort -g |
            awk '{ v[NR] = $1 } END { printf "%.6f\n", v[int((NR + 1) / 2)] }'
    done
}

# spawned CMD1 -- CMD2 -- ... -> the wall seconds of one call of each CMD (one
# line each): the median of $ONE x $REPEAT calls started with posix_spawn by one
# small process (no shell fork billed to either tool), the commands taking turns
# call by call, so that all of them meet the same moments of a machine whose speed
# drifts (a virtual machine's neighbours, its memory reclaim)
spawned() {
    python3 - "$((ONE * REPEAT))" "$@" <<'PY'
import os, sys, time
n, cmds = int(sys.argv[1]), [[]]
for a in sys.argv[2:]:
    if a == "--":
        cmds.append([])
    else:
        cmds[-1].append(a)
null = os.open(os.devnull, os.O_WRONLY)
fa = [(os.POSIX_SPAWN_DUP2, null, 1), (os.POSIX_SPAWN_DUP2, null, 2)]
times = [[] for _ in cmds]
for _ in range(n):
    for argv, t in zip(cmds, times):
        start = time.perf_counter()
        os.waitpid(os.posix_spawn(argv[0], argv, os.environ, file_actions=fa), 0)
        t.append(time.perf_counter() - start)
for t in times:
    t.sort()
    print(f"{t[len(t) // 2]:.6f}")
PY
}

log "$TREE: $N modules, best of $REPEAT"
read -r t_loop c_loop <<< "$(best loop_kmod)"
read -r t_closure c_closure <<< "$(best closure_ours)"
read -r t_one_k c_one_k <<< "$(best one_kmod)"
read -r t_one_o c_one_o <<< "$(best one_ours)"
read -r t_one_t c_one_t <<< "$(best one_ours_text)"
{ read -r i_one_k; read -r i_one_o; read -r i_one_t; } < <(interleaved)
{ read -r s_one_k; read -r s_one_o; read -r s_one_t; } < <(spawned \
    "${KMOD34[@]}" "${BASE[@]}" --show-depends btrfs -- \
    "${OURS[@]}" "${BASE[@]}" --show-depends --json btrfs -- \
    "${OURS[@]}" "${BASE[@]}" --show-depends btrfs)
read -r t_batch_k c_batch_k <<< "$(best batch_kmod)"
read -r t_batch_o c_batch_o <<< "$(best batch_ours)"
per() { awk -v t="$1" -v n="$ONE" 'BEGIN { printf "%.2fms", 1000 * t / n }'; }
batches=$(( (N + BATCH - 1) / BATCH ))
perb() { awk -v t="$1" -v n="$batches" 'BEGIN { printf "%.1fms", 1000 * t / n }'; }
secs() { printf '%ss' "$1"; }

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

row() { # name fmt kmod-wall ours-wall kmod-cpu ours-cpu goal
    printf '%-42s %10s %10s %6s %10s %10s %6s  %s\n' "$1" "$($2 "$3")" "$($2 "$4")" \
        "$(ratio "$4" "$3")" "$($2 "$5")" "$($2 "$6")" "$(ratio "$6" "$5")" "$7"
}
ratio3() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.4f", a / b; else print "-" }'; }
ms() { awk -v t="$1" 'BEGIN { printf "%.2fms", 1000 * t }'; }
printf '%-42s %10s %10s %6s %10s %10s %6s  %s\n' "$TREE, $N modules" "kmod wall" "ours wall" ratio \
    "kmod cpu" "ours cpu" ratio goal
row "closure of every module: loop / one call" secs "$t_loop" "$t_closure" "$c_loop" "$c_closure" "<= 0.01"
row "one module, one call (--json)" per "$t_one_k" "$t_one_o" "$c_one_k" "$c_one_o" "<= 0.5"
row "one module, one call (text)" per "$t_one_k" "$t_one_t" "$c_one_k" "$c_one_t" ""
row "text -a --show-depends, $BATCH per call" perb "$t_batch_k" "$t_batch_o" "$c_batch_k" "$c_batch_o" "<= 1"
printf '%-42s %10s %10s %6s\n' "one module, bash loop, median (--json)" "$(ms "$i_one_k")" "$(ms "$i_one_o")" \
    "$(ratio "$i_one_o" "$i_one_k")"
printf '%-42s %10s %10s %6s\n' "one module, bash loop, median (text)" "$(ms "$i_one_k")" "$(ms "$i_one_t")" \
    "$(ratio "$i_one_t" "$i_one_k")"
printf '%-42s %10s %10s %6s\n' "one module, posix_spawn (--json)" "$(ms "$s_one_k")" "$(ms "$s_one_o")" \
    "$(ratio "$s_one_o" "$s_one_k")"
printf '%-42s %10s %10s %6s\n' "one module, posix_spawn (text)" "$(ms "$s_one_k")" "$(ms "$s_one_t")" \
    "$(ratio "$s_one_t" "$s_one_k")"
printf 'closure / loop, four decimals: wall %s, cpu %s\n' "$(ratio3 "$t_closure" "$t_loop")" "$(ratio3 "$c_closure" "$c_loop")"
exit $status
