# Step helpers for the scenario scripts (sourced by /init; busybox ash).
#
#   step ID 'COMMAND'        run COMMAND with sh -c, record it, compare it
#   step_nc ID 'COMMAND'     same, but the host does not compare it (version strings)
#   step_diff ID 'COMMAND'   compared, but kmod-rs is meant to differ (it accepts what
#                            kmod 34.2 cannot, or refuses earlier with its own message):
#                            a difference is reported as "expected-diff"
#
# Record layout on fd 3 (the transcript port), one step:
#   @@@STEP <id> <cmp|nocmp|diff>
#   @@@CMD <command as written>
#   @@@T0 <guest uptime>
#   @@@OUT
#   <stdout>
#   @@@ERR
#   <stderr>
#   @@@RC <exit status>
#   @@@T1 <guest uptime>
#   @@@KMSG
#   <kernel log lines printed since the previous step, as dmesg prints them>
#   @@@END
# Each stream is followed by one extra newline before the next marker, so the stream
# is exactly the lines up to the marker joined with newlines (the last newline or its
# absence is preserved). A line of output starting with "@@@TIME " is a measurement:
# the host keeps it out of the comparison. COMMAND runs under
# `timeout $KMODRS_STEPTIMEOUT`. Few processes per step: every fork costs under TCG.

_step() {
    _flags=$1 _id=$2
    shift 2
    read -r _t0 _ </proc/uptime
    printf '@@@STEP %s %s\n@@@CMD %s\n@@@T0 %s\n' "$_id" "$_flags" "$*" "$_t0" >&3
    timeout "$KMODRS_STEPTIMEOUT" sh -c "$*" </dev/null >/tmp/.out 2>/tmp/.err
    _rc=$?
    read -r _t1 _ </proc/uptime
    echo "@@@OUT" >&3
    cat /tmp/.out >&3
    printf '\n@@@ERR\n' >&3
    cat /tmp/.err >&3
    printf '\n@@@RC %s\n@@@T1 %s\n@@@KMSG\n' "$_rc" "$_t1" >&3
    dmesg -c >&3 2>/dev/null
    echo "@@@END" >&3
}

step() { _step cmp "$@"; }
step_nc() { _step nocmp "$@"; }
step_diff() { _step diff "$@"; }

# `eval "$names"` prints "loaded:" and the loaded modules' names, sorted, on one line.
names='echo "loaded:" $(cut -d" " -f1 /proc/modules | sort)'
export names
