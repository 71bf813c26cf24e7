# The machine and the tools under test. Version strings differ by design: not compared.
step_nc version '/sbin/kmod --version; /sbin/modprobe --version'
step uname 'uname -r; test "$(uname -r)" = "$KVER"'
step module-compression 'cat /sys/module/compression || echo "(none: userspace decompression)"'
step cmdline 'tr " " "\n" </proc/cmdline | grep -E "^loop\."'
step proc-modules-empty 'cat /proc/modules'
