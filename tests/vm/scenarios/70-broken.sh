# Patched copies of dummy (signature stripped first): must be refused. kmod reports
# the kernel's error; kmod-rs refuses before the syscall with its own message
# (step_diff: both recorded, a difference is expected).
step_diff insmod-bad-vermagic '/sbin/insmod /variants/dummy-vermagic.ko; rc=$?; grep -c "^dummy " /proc/modules; exit $rc'
step_diff insmod-bad-crc '/sbin/insmod /variants/dummy-badcrc.ko; rc=$?; grep -c "^dummy " /proc/modules; exit $rc'
step insmod-force-vermagic '/sbin/insmod -f /variants/dummy-vermagic.ko; rc=$?; grep "^dummy " /proc/modules | cut -d" " -f1-3; /sbin/rmmod dummy 2>/dev/null; exit $rc'
# control: the same module with only the signature stripped loads (and taints)
step insmod-unsigned '/sbin/insmod /variants/dummy-nosig.ko; rc=$?; grep "^dummy " /proc/modules | cut -d" " -f1-3; /sbin/rmmod dummy; exit $rc'
