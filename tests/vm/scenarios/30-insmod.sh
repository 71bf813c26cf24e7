# insmod / lsmod / rmmod by path, no modprobe involved.
step insmod-loop '/sbin/insmod "$LOOP" max_loop=3'
step loop-params 'cat /sys/module/loop/parameters/max_loop /sys/module/loop/parameters/max_part'
step lsmod '/sbin/lsmod'
step proc-modules 'cat /proc/modules'
step insmod-loop-again '/sbin/insmod "$LOOP"'
step rmmod-loop '/sbin/rmmod loop; rc=$?; grep -c "^loop " /proc/modules; exit $rc'
step rmmod-loop-again '/sbin/rmmod loop'
step insmod-missing-file '/sbin/insmod /no/such/file.ko'
# the kernel ignores unknown parameters of a loadable module (with a warning)
step insmod-bad-param '/sbin/insmod "$LOOP" no_such_param=1; rc=$?; grep -c "^loop " /proc/modules; /sbin/rmmod loop; exit $rc'
step rmmod-usage '/sbin/rmmod'
