# SPDX-License-Identifier: LGPL-2.1-or-later
# private-bus.sh: sourced by the tests, benchmarks and the demo that run vmsnapd on a
# private bus standing in for the system bus. The one place that writes that bus's
# configuration (anyone may own a name, send and receive: only root and the test's own
# users reach the socket's directory) and starts dbus-daemon on it. The bus tests with
# polkit (tests/bus/harness.sh) write a stricter one of their own.

# private_bus_start DIR: dbus-daemon listening on DIR/bus, its configuration in
# DIR/bus.conf. Sets private_bus_pid and private_bus_address; fails when the socket does
# not appear within 5 s.
private_bus_start() {
        local dir=$1
        cat >"$dir/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path=$dir/bus</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_destination="*"/><allow receive_sender="*"/></policy>
</busconfig>
EOF
        dbus-daemon --config-file="$dir/bus.conf" --nofork --nopidfile &
        private_bus_pid=$!
        private_bus_address="unix:path=$dir/bus"
        for _ in $(seq 100); do
                [ -S "$dir/bus" ] && return 0
                sleep 0.05
        done
        return 1
}
