# /etc/modprobe.d/test.conf: options, install/remove commands, softdep, alias; a
# blacklist file written for the blacklist steps only (kmod applies a blacklist to
# alias lookups even without -b: KMOD_PROBE_APPLY_BLACKLIST_ALIAS_ONLY).
step showconfig '/sbin/modprobe -c | grep -E "kmodrs|^options loop|^install dummy|^remove dummy|^softdep brd|^blacklist"'
step install-cmd '/sbin/modprobe -v dummy; rc=$?; eval "$names"; exit $rc'
step remove-cmd '/sbin/modprobe -r -v dummy; rc=$?; eval "$names"; exit $rc'
step ignore-install '/sbin/modprobe -v --ignore-install dummy; rc=$?; eval "$names"; exit $rc'
step ignore-remove '/sbin/modprobe -r -v --ignore-remove dummy; rc=$?; eval "$names"; exit $rc'
step softdep '/sbin/modprobe -v brd; rc=$?; eval "$names"; exit $rc'
step softdep-r '/sbin/modprobe -r -v brd; rc=$?; eval "$names"; exit $rc'
step softdep-show '/sbin/modprobe --show-depends brd'
step blacklist-conf 'echo "blacklist $PCI_MOD" >/etc/modprobe.d/kmodrs-blacklist.conf; /sbin/modprobe -c | grep "^blacklist"'
step blacklist-alias '/sbin/modprobe -v "$PCI_ALIAS"; rc=$?; eval "$names"; exit $rc'
step blacklist-b-alias '/sbin/modprobe -b -v "$PCI_ALIAS"; rc=$?; eval "$names"; exit $rc'
# -b applies the blacklist to names as well; without it, a name loads
step blacklist-b-name '/sbin/modprobe -b -v "$PCI_MOD"; rc=$?; eval "$names"; exit $rc'
step blacklist-name '/sbin/modprobe -v "$PCI_MOD"; rc=$?; eval "$names"; exit $rc'
step blacklist-r '/sbin/modprobe -r -v "$PCI_MOD"; rc=$?; eval "$names"; exit $rc'
step blacklist-show-depends '/sbin/modprobe -b --show-depends "$PCI_ALIAS"; rc=$?; rm /etc/modprobe.d/kmodrs-blacklist.conf; exit $rc'
step config-alias '/sbin/modprobe -v kmodrs-test-alias; rc=$?; eval "$names"; exit $rc'
step config-alias-r '/sbin/modprobe -r loop; eval "$names"'
step config-options-cmdline '/sbin/modprobe loop max_loop=2 && cat /sys/module/loop/parameters/max_loop /sys/module/loop/parameters/max_part; /sbin/modprobe -r loop'
