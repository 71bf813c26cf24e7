#!/usr/bin/env bash
# The README demo: kmod-rs loading modules into a real Debian kernel.
#
# Builds a fully static kmod-rs, fetches Debian's kernel package if it is not cached
# yet (scripts/fetch-reference.sh, amd64 only), boots that kernel under QEMU (TCG: no
# KVM needed) with a small initramfs holding kmod-rs and a subset of the kernel's
# modules, and runs, inside: depmod, modinfo, modprobe of a dependency chain (btrfs),
# lsmod, modprobe -r. Nothing on the host is loaded or touched; root is only needed
# to install missing packages (qemu-system-x86, busybox-static, cpio, python3).
#
#   scripts/vm-demo.sh [TREE]     TREE: trixie-amd64 (Linux 6.12, default) or
#                                 bookworm-amd64 (Linux 6.1)
# Tools kmod-rs does not have yet are skipped inside the guest (see
# tests/vm/scenarios/demo.sh); the test harness itself is tests/vm/run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
tree=${1:-${KMOD_RS_DEMO_TREE:-trixie-amd64}}
export KMOD_RS_VM_WORK=${KMOD_RS_VM_WORK:-$PWD/target/vm-demo}
. tests/vm/lib.sh

vm_need_pkgs
vm_cache
vm_build_kmod
[ -e "$VM_CACHE/trees/$tree/KVER" ] || vm_die "unknown tree $tree (bookworm-amd64 or trixie-amd64)"
if "$VM_KMOD" --version >/dev/null 2>&1 && (exec -a modprobe "$VM_KMOD" --version >/dev/null 2>&1); then
    vm_log "kmod-rs has modprobe: full demo"
else
    vm_log "kmod-rs has no modprobe yet: showing depmod and modinfo (and insmod/lsmod/rmmod if present)"
fi
vm_prepare "$tree"
echo
echo "=== booting Debian's Linux $VM_KVER under QEMU with kmod-rs as /sbin/{modprobe,depmod,...}"
vm_boot "$tree" ours "$VM_WORK/$tree/demo" demo 0 180 live
status=$(cat "$VM_WORK/$tree/demo/status")
case "$status" in
    ok*) echo; echo "=== done ($status); transcript: $VM_WORK/$tree/demo/transcript.txt" ;;
    *) echo; echo "=== the VM did not finish: $status; console: $VM_WORK/$tree/demo/console.log"; exit 1 ;;
esac
