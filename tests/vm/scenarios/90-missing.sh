# Destructive, last: files listed in modules.dep removed after depmod.
step missing-dep 'rm -f "$MODDIR/$PCI_DEP"; /sbin/modprobe -v "$PCI_MOD"; rc=$?; eval "$names"; exit $rc'
step missing-module 'rm -f "$LOOP"; /sbin/modprobe -v loop; rc=$?; eval "$names"; exit $rc'
step missing-insmod '/sbin/insmod "$LOOP"'
step final-proc-modules 'cat /proc/modules'
