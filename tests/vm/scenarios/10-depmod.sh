# depmod inside the guest on the module subset; the indexes are compared between the
# two runs (checksums) and with kmod 34.2's depmod run on the host (/hostdepmod).
IDX="modules.alias modules.alias.bin modules.builtin.alias.bin modules.builtin.bin modules.dep modules.dep.bin modules.devname modules.softdep modules.symbols modules.symbols.bin"
export IDX
step ls-before 'cd "$MODDIR" && ls'
step depmod-a '/sbin/depmod -a'
# (kmod-rs's cache, modules.kmod-rs-cache.bin, is left out of the listing)
step depmod-files 'cd "$MODDIR" && ls modules.* | grep -vx modules.kmod-rs-cache.bin && md5sum $IDX'
step depmod-vs-host 'cd "$MODDIR" && for f in $IDX modules.weakdep; do if [ ! -e /hostdepmod/$f ]; then echo "$f: not made by kmod 34.2"; elif cmp -s $f /hostdepmod/$f; then echo "$f: same as host kmod 34.2"; else echo "$f: DIFFERS from host kmod 34.2"; fi; done'
step depmod-dep 'cat "$MODDIR/modules.dep"'
step depmod-softdep 'cat "$MODDIR/modules.softdep"'
step depmod-devname 'cat "$MODDIR/modules.devname"'
step depmod-A-uptodate 'cd "$MODDIR" && i=$(stat -c %i modules.dep); /sbin/depmod -A; rc=$?; [ "$(stat -c %i modules.dep)" = "$i" ] && echo unchanged || echo rewritten; exit $rc'
# a newer module: -A runs depmod, after which modules.dep is not older than it (kmod
# rewrites every index; kmod-rs leaves the unchanged ones and moves modules.dep's time)
step depmod-A-newer 'cd "$MODDIR" && sleep 1; touch "$LOOP"; /sbin/depmod -A; rc=$?; [ "$LOOP" -nt modules.dep ] && echo stale || echo fresh; md5sum $IDX; exit $rc'
step depmod-kver '/sbin/depmod "$KVER" && md5sum "$MODDIR/modules.dep"'
