# The README demo (scripts/vm-demo.sh), kmod-rs only. Tools kmod-rs does not have
# yet (the multi-call binary exits 1 silently for a name it does not know) are
# skipped, and what works is shown instead.
_have() { /sbin/$1 --version >/dev/null 2>&1; }
step_nc version '/sbin/kmod --version'
step uname 'uname -r'
step depmod '/sbin/depmod -a && ls "$MODDIR"'
step modinfo '/sbin/modinfo btrfs | grep -E "^(filename|description|depends|softdep|vermagic|signer):"'
if _have modprobe; then
    step modprobe-btrfs '/sbin/modprobe -v btrfs'
    if _have lsmod; then step lsmod '/sbin/lsmod'; else step lsmod 'cat /proc/modules'; fi
    step modprobe-r-btrfs '/sbin/modprobe -r -v btrfs'
    if _have lsmod; then step lsmod-after '/sbin/lsmod'; else step lsmod-after 'cat /proc/modules'; fi
else
    step no-modprobe-yet 'echo "kmod-rs has no modprobe yet; what modprobe btrfs will load, from the indexes depmod just wrote:"; grep "/btrfs\.ko" "$MODDIR/modules.dep"; grep "^softdep btrfs" "$MODDIR/modules.softdep"'
    step modinfo-deps 'for m in $(/sbin/modinfo -F depends btrfs | tr , " "); do /sbin/modinfo "$m" | grep -E "^(filename|description):"; done'
    if _have insmod; then
        step insmod-loop '/sbin/insmod "$LOOP" max_loop=3 && cat /sys/module/loop/parameters/max_loop'
        if _have lsmod; then step lsmod '/sbin/lsmod'; else step lsmod 'cat /proc/modules'; fi
        if _have rmmod; then step rmmod-loop '/sbin/rmmod loop && cat /proc/modules'; fi
    fi
fi
