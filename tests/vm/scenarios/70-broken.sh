# Patched copies of modules (signature stripped first): must be refused. kmod reports
# the kernel's error; kmod-rs refuses before the syscall with its own message where it
# can know (step_diff: both recorded, a difference is expected).
step_diff insmod-bad-vermagic '/sbin/insmod /variants/dummy-vermagic.ko; rc=$?; grep -c "^dummy " /proc/modules; exit $rc'
# module_layout's CRC is only known to the kernel: refused by the kernel for both
step_diff insmod-bad-layout-crc '/sbin/insmod /variants/dummy-badcrc.ko; rc=$?; grep -c "^dummy " /proc/modules; exit $rc'
# $CRC_MOD with the __versions CRC of $CRC_SYM, exported by its dependency $CRC_DEP,
# flipped: with $CRC_DEP loaded, kmod-rs knows the real CRC (the loaded module's file,
# through modules.dep) and refuses before the syscall, naming module, symbol and both
# CRCs (kmod: the kernel refuses it). Forcing modversions loads it.
step crc-dep '/sbin/modprobe $CRC_DEP; eval "$names"'
step_diff insmod-bad-crc '/sbin/insmod /variants/$CRC_MOD-badcrc.ko; rc=$?; grep -c "^$CRC_MOD " /proc/modules; exit $rc'
step_diff modprobe-bad-crc '/sbin/modprobe /variants/$CRC_MOD-badcrc.ko; rc=$?; grep -c "^$CRC_MOD " /proc/modules; exit $rc'
step insmod-force-crc '/sbin/insmod -f /variants/$CRC_MOD-badcrc.ko; rc=$?; grep "^$CRC_MOD " /proc/modules | cut -d" " -f1-3; /sbin/rmmod $CRC_MOD; exit $rc'
step modprobe-force-modversion '/sbin/modprobe --force-modversion /variants/$CRC_MOD-badcrc.ko; rc=$?; grep "^$CRC_MOD " /proc/modules | cut -d" " -f1-3; /sbin/rmmod $CRC_MOD; exit $rc'
step crc-dep-r '/sbin/rmmod $CRC_DEP; eval "$names"'
step insmod-force-vermagic '/sbin/insmod -f /variants/dummy-vermagic.ko; rc=$?; grep "^dummy " /proc/modules | cut -d" " -f1-3; /sbin/rmmod dummy 2>/dev/null; exit $rc'
# control: the same module with only the signature stripped loads (and taints)
step insmod-unsigned '/sbin/insmod /variants/dummy-nosig.ko; rc=$?; grep "^dummy " /proc/modules | cut -d" " -f1-3; /sbin/rmmod dummy; exit $rc'
