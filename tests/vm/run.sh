#!/usr/bin/env bash
# Run the loading tools on Debian's real kernels under QEMU (TCG), once with kmod-rs
# and once with kmod 34.2, and compare the transcripts step by step.
#
#   tests/vm/run.sh [--trees "bookworm-amd64 trixie-amd64"] [--impls "ref ours"]
#                   [--scenarios 10-depmod,30-insmod] [--cycles N] [--ref-cycles N]
#                   [--jobs N] [--timeout SECONDS] [--out DIR] [--strict]
#
# Every option has an environment equivalent: KMOD_RS_VM_TREES, KMOD_RS_VM_IMPLS,
# KMOD_RS_VM_SCENARIOS, KMOD_RS_VM_CYCLES, KMOD_RS_VM_REF_CYCLES, KMOD_RS_VM_JOBS,
# KMOD_RS_VM_TIMEOUT, KMOD_RS_VM_WORK (output; default target/vm), KMOD_RS_VM_STRICT=1.
# --cycles: insmod/rmmod cycles of the stress scenario for kmod-rs (default 1000);
# --ref-cycles: for kmod 34.2 (default 100, or --cycles when smaller; kmod only
# validates the harness there, and its cycles are slower).
#
# Output, per tree, in $KMOD_RS_VM_WORK/<tree>/:
#   ref/transcript.txt ours/transcript.txt   raw transcripts (format: guest/lib.sh)
#   ref/console.log ours/console.log         kernel console
#   report.txt summary.tsv                   the step-by-step comparison
#   params                                   what the scenarios were given
# Exit status: 0 when every VM ran to completion (differences are reported, not
# fatal, unless --strict), 1 otherwise.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

trees=${KMOD_RS_VM_TREES:-bookworm-amd64 trixie-amd64}
impls=${KMOD_RS_VM_IMPLS:-ref ours}
scenarios=${KMOD_RS_VM_SCENARIOS:-}
cycles=${KMOD_RS_VM_CYCLES:-1000}
ref_cycles=${KMOD_RS_VM_REF_CYCLES:-}
jobs=${KMOD_RS_VM_JOBS:-2}
tmo=${KMOD_RS_VM_TIMEOUT:-}
strict=${KMOD_RS_VM_STRICT:-}
while [ $# -gt 0 ]; do
    case "$1" in
        --trees) trees=$2; shift 2 ;;
        --impls) impls=$2; shift 2 ;;
        --scenarios) scenarios=$2; shift 2 ;;
        --cycles) cycles=$2; shift 2 ;;
        --ref-cycles) ref_cycles=$2; shift 2 ;;
        --jobs) jobs=$2; shift 2 ;;
        --timeout) tmo=$2; shift 2 ;;
        --out) VM_WORK=$2; shift 2 ;;
        --strict) strict=1; shift ;;
        -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) vm_die "unknown option $1" ;;
    esac
done
if [ -z "$ref_cycles" ]; then
    ref_cycles=100
    [ "$cycles" -ge 100 ] || ref_cycles=$cycles
fi
cycles_of() { if [ "$1" = ref ]; then echo "$ref_cycles"; else echo "$cycles"; fi; }
# boot ~10 s, scenarios ~40-90 s under TCG (more on a loaded machine), plus the
# cycles (~0.1-0.25 s each): 240 s + cycles/2 per VM unless --timeout
timeout_of() { if [ -n "$tmo" ]; then echo "$tmo"; else echo $((240 + $(cycles_of "$1") / 2)); fi; }
mkdir -p "$VM_WORK"
VM_WORK=$(cd "$VM_WORK" && pwd)
export KMOD_RS_VM_WORK=$VM_WORK

t_start=$(date +%s)
vm_need_pkgs
vm_cache
vm_build_kmod
vm_log "kmod-rs: $VM_KMOD ($(du -k "$VM_KMOD" | cut -f1) KiB, static)"
for t in $trees; do
    vm_prepare "$t"
done

# the boots, $jobs at a time, the ones with more cycles first
order=$impls
if [ "$ref_cycles" -lt "$cycles" ] && [[ " $impls " == *" ours "* ]]; then
    order="ours ${impls//ours/}"
fi
pids=()
for i in $order; do
    for t in $trees; do
        while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
        vm_boot "$t" "$i" "$VM_WORK/$t/$i" "$scenarios" "$(cycles_of "$i")" "$(timeout_of "$i")" &
        pids+=($!)
    done
done
for p in "${pids[@]}"; do wait "$p" || true; done

# reports
fail=0
echo
for t in $trees; do
    for i in $impls; do
        st=$(cat "$VM_WORK/$t/$i/status" 2>/dev/null || echo "not run")
        printf '%-16s %-5s %s\n' "$t" "$i" "$st"
        case "$st" in ok*) ;; *) fail=1 ;; esac
    done
done
for t in $trees; do
    if [[ " $impls " == *" ref "* && " $impls " == *" ours "* ]]; then
        echo
        echo "================ $t ($(cat "$VM_CACHE/trees/$t/KVER")): kmod 34.2 vs kmod-rs"
        rc=0
        python3 "$VM_DIR/transcript.py" compare "$VM_WORK/$t/ref/transcript.txt" "$VM_WORK/$t/ours/transcript.txt" \
            --tsv "$VM_WORK/$t/summary.tsv" ${strict:+--strict} > "$VM_WORK/$t/report.txt" || rc=$?
        if [ -n "${KMOD_RS_VM_QUIET:-}" ]; then tail -n 1 "$VM_WORK/$t/report.txt"; else cat "$VM_WORK/$t/report.txt"; fi
        [ $rc = 0 ] || fail=1
    else
        for i in $impls; do
            echo
            echo "================ $t: $i"
            python3 "$VM_DIR/transcript.py" show "$VM_WORK/$t/$i/transcript.txt"
        done
    fi
done
echo
vm_log "total $(($(date +%s) - t_start))s; transcripts under $VM_WORK"
exit $fail
