# 8 modprobes of one module in parallel; N insmod/rmmod cycles (N is on the @@@TIME
# line, kept out of the comparison: kmod 34.2 may run fewer cycles than kmod-rs).
step parallel-8 'for i in 1 2 3 4 5 6 7 8; do /sbin/modprobe loop & eval "p$i=$!"; done; for i in 1 2 3 4 5 6 7 8; do eval "wait \$p$i"; echo "modprobe #$i: exit $?"; done; echo "instances: $(grep -c "^loop " /proc/modules)"'
step parallel-8-r '/sbin/modprobe -r loop; eval "$names"'
step cycles 'n=$KMODRS_CYCLES; fail=0; i=0; t0=$(cut -d" " -f1 /proc/uptime); while [ $i -lt $n ]; do /sbin/insmod "$DUMMY" || fail=$((fail+1)); /sbin/rmmod dummy || fail=$((fail+1)); i=$((i+1)); done; t1=$(cut -d" " -f1 /proc/uptime); echo "failures: $fail left: $(grep -c "^dummy " /proc/modules)"; echo "@@@TIME cycles=$n seconds=$(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }")"; [ $fail = 0 ]'
