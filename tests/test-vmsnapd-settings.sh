#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# test-vmsnapd-settings.sh VMSNAPD: vmsnapd's configuration file and command line.
# A bad file is refused with one line naming the file, the line and what is wrong,
# and exit status 6, before anything starts; options override the file. vmsnapd is
# pointed at a bus that does not exist, so that a good configuration shows itself in
# the "starting:" line and then ends there.
set -u
vmsnapd=${1:?usage: test-vmsnapd-settings.sh VMSNAPD}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
nowhere="unix:path=$work/no-bus"
n=0
failed=0
echo "1..10"

# refused NAME FILE-CONTENT EXPECTED-LINE: vmsnapd exits 6 printing exactly that line.
refused() {
        n=$((n + 1))
        printf '%b' "$2" >"$work/$n.conf"
        out=$("$vmsnapd" --config "$work/$n.conf" --bus-address "$nowhere" 2>&1)
        status=$?
        expected="vmsnapd: $work/$n.conf:${3}"
        if [ "$status" = 6 ] && [ "$out" = "$expected" ]; then
                echo "ok $n - $1"
        else
                failed=$((failed + 1))
                echo "not ok $n - $1"
                printf '# status %s, said:\n# %s\n# expected:\n# %s\n' "$status" "$out" "$expected"
        fi
}

refused "an unknown setting is an error naming it and the known ones" \
        'workers = 2\nworker = 3\n' \
        '2: worker is not a setting (the settings are connect, state-dir, workers, job-linger, stop-timeout, clone-targets, rbd-lease)'
refused "a bad value is an error with the setting's rule" \
        '# the pool\nworkers = 0\n' \
        '2: workers takes a number from 1 to 1024, not "0"'
refused "a lease shorter than two seconds is refused" \
        'rbd-lease = 1\n' \
        '1: rbd-lease takes seconds from 2 to 3600, not "1"'
refused "a line that is not name = value is an error quoting it" \
        'job-linger 30\n' \
        '1: expected "name = value", found "job-linger 30"'
refused "a setting given twice is an error naming both lines" \
        'stop-timeout = 10\n\nstop-timeout = 20\n' \
        '3: stop-timeout is set twice (first on line 1)'
refused "the bus address is for the command line only" \
        'bus-address = unix:path=/run/x\n' \
        '1: bus-address is not a setting (the settings are connect, state-dir, workers, job-linger, stop-timeout, clone-targets, rbd-lease)'

n=$((n + 1))
out=$("$vmsnapd" --config "$work/missing.conf" 2>&1)
if [ $? = 6 ] && [ "$out" = "vmsnapd: $work/missing.conf: cannot be read: No such file or directory" ]; then
        echo "ok $n - a configuration file named on the command line must exist"
else
        failed=$((failed + 1)); echo "not ok $n - a configuration file named on the command line must exist"; echo "# $out"
fi

# starting FILE-CONTENT ARGS...: the "starting:" line of a vmsnapd that then finds no bus.
starting() {
        printf '%b' "$1" >"$work/good.conf"
        shift
        "$vmsnapd" --config "$work/good.conf" --bus-address "$nowhere" "$@" 2>&1 | sed -n 's/^vmsnapd [^:]*: starting: //p'
}
n=$((n + 1))
out=$(starting '# comments and blank lines\n\n  connect = test:///default  \nstate-dir=/tmp/vmsnap-settings\nworkers = 3\n')
expected="libvirt test:///default, state directory /tmp/vmsnap-settings, 3 workers, $nowhere"
if [ "$out" = "$expected" ]; then
        echo "ok $n - the file's settings apply"
else
        failed=$((failed + 1)); echo "not ok $n - the file's settings apply"; echo "# $out"; echo "# expected $expected"
fi
n=$((n + 1))
out=$(starting 'connect = test:///default\nstate-dir = /tmp/vmsnap-settings\nworkers = 3\n' --workers 5 \
        --state-dir /tmp/vmsnap-settings-2)
expected="libvirt test:///default, state directory /tmp/vmsnap-settings-2, 5 workers, $nowhere"
if [ "$out" = "$expected" ]; then
        echo "ok $n - options override the file, whatever their order"
else
        failed=$((failed + 1)); echo "not ok $n - options override the file, whatever their order"; echo "# $out"
fi
n=$((n + 1))
# The shipped file documents each setting with its default, commented out: with those
# lines uncommented it must be accepted as it stands.
shipped=$(dirname "$0")/../packaging/vmsnapd.conf
out=$(starting "$(sed 's/^#\([a-z-]* = \)/\1/' "$shipped")\n" --state-dir /tmp/vmsnap-settings)
if [ -n "$out" ] && [ "${out#libvirt qemu:///system, state directory /tmp/vmsnap-settings, 4 workers,}" != "$out" ]; then
        echo "ok $n - the shipped vmsnapd.conf, its defaults uncommented, is accepted"
else
        failed=$((failed + 1)); echo "not ok $n - the shipped vmsnapd.conf, its defaults uncommented, is accepted"
        echo "# $out"; "$vmsnapd" --config "$work/good.conf" --bus-address "$nowhere" 2>&1 | sed 's/^/# /'
fi
rm -rf /tmp/vmsnap-settings /tmp/vmsnap-settings-2
[ "$failed" = 0 ]
