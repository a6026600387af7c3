#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# harness.sh VMSNAPD TEST.py [VMSNAPD-ARGS...]: runs one bus test program against
# real parts, in a temporary directory: a private dbus-daemon acting as the system
# bus, the real polkitd with the project's actions and a test rule (vmsnap-ok is
# allowed, vmsnap-no denied), and vmsnapd on libvirt's test driver with domains
# whose disks are real qcow2 images. The test program prints TAP lines without a
# plan; this script adds one last case (vmsnapd exits cleanly on SIGTERM, nothing
# leaked) and the plan. Everything it started or installed is removed on exit.
set -u

vmsnapd=$(realpath "$1")
test_program=$2
shift 2

skip() {
        echo "1..0 # SKIP $*"
        exit 0
}

bail() {
        echo "Bail out! $*"
        exit 1
}

[ "$(id -u)" = 0 ] || skip "the bus tests need root (test users, polkit rules, a private system bus)"
command -v dbus-daemon >/dev/null || skip "dbus-daemon is not installed (apt-get install dbus-daemon)"
polkitd=/usr/lib/polkit-1/polkitd
[ -x "$polkitd" ] || skip "polkitd is not installed (apt-get install polkitd)"

source_root=$(cd "$(dirname "$0")/../.." && pwd)
policy="$source_root/polkit/org.example.snapshots.policy"
[ -f "$policy" ] || bail "$policy is missing: the tests check the project's own polkit actions"
python=/usr/bin/python3
"$python" -c 'import gi; gi.require_version("Gio", "2.0"); from gi.repository import Gio' 2>/dev/null ||
        bail "$python cannot import gi's Gio (apt-get install python3-gi gir1.2-glib-2.0)"
for tool in qemu-img qemu-io setpriv gdbus; do
        command -v $tool >/dev/null || bail "$tool is missing"
done

work=$(mktemp -d /tmp/vmsnap-bus-XXXXXX)
# Test users reach the bus socket inside it.
chmod 0755 "$work"
tag="vmsnap-bus-test-$$"
installed=()
pids=()

cleanup() {
        for pid in "${pids[@]}"; do
                kill "$pid" 2>/dev/null
        done
        for pid in "${pids[@]}"; do
                wait "$pid" 2>/dev/null
        done
        for file in "${installed[@]}"; do
                rm -f "$file"
        done
        if [ -n "${VMSNAP_TEST_KEEP:-}" ]; then
                echo "# kept $work" >&2
        else
                rm -rf "$work"
        fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

for user in vmsnap-ok vmsnap-no; do
        id "$user" >/dev/null 2>&1 ||
                useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user" ||
                bail "cannot create test user $user"
done

# ---- the system bus ----
address="unix:path=$work/bus"
cat >"$work/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>$address</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <allow send_destination="org.example.Snapshots"/>
  </policy>
  <policy user="root">
    <allow own="org.example.Snapshots"/>
  </policy>
  <include ignore_missing="no">/usr/share/dbus-1/system.d/org.freedesktop.PolicyKit1.conf</include>
</busconfig>
EOF
dbus-daemon --config-file="$work/bus.conf" --nofork --nopidfile 2>"$work/dbus-daemon.log" &
pids+=($!)
export DBUS_SYSTEM_BUS_ADDRESS=$address
for _ in $(seq 100); do
        [ -S "$work/bus" ] && break
        sleep 0.05
done
[ -S "$work/bus" ] || bail "dbus-daemon did not start: $(cat "$work/dbus-daemon.log")"

# ---- polkit: the project's actions, the test rule ----
action_file="/usr/share/polkit-1/actions/$tag.org.example.snapshots.policy"
rules_file="/etc/polkit-1/rules.d/50-$tag.rules"
mkdir -p /usr/share/polkit-1/actions /etc/polkit-1/rules.d
install -m 0644 "$policy" "$action_file" && installed+=("$action_file") || bail "cannot install $action_file"
cat >"$rules_file" <<'EOF' && installed+=("$rules_file") || bail "cannot install $rules_file"
// vmsnap bus tests: vmsnap-ok may do everything, vmsnap-no nothing. A snapshot
// called "needs-auth" asks vmsnap-ok to authenticate (a challenge without an agent),
// which also shows that vmsnapd passes the snapshot as a detail.
polkit.addRule(function(action, subject) {
        if (action.id.indexOf("org.example.snapshots.") != 0)
                return polkit.Result.NOT_HANDLED;
        if (subject.user == "vmsnap-ok")
                return action.lookup("snapshot") == "needs-auth" ? polkit.Result.AUTH_ADMIN : polkit.Result.YES;
        if (subject.user == "vmsnap-no")
                return polkit.Result.NO;
        return polkit.Result.NOT_HANDLED;
});
EOF
chmod 0644 "$rules_file"
"$polkitd" --no-debug >"$work/polkitd.log" 2>&1 &
polkitd_pid=$!
pids+=($polkitd_pid)
gdbus wait --system --timeout 10 org.freedesktop.PolicyKit1 ||
        bail "polkitd did not appear on the bus: $(cat "$work/polkitd.log")"

# ---- libvirt test driver: shut-off domains on real images ----
mkdir -p "$work/images" "$work/state"
image() { # image NAME SIZE [PATTERN-MIB]
        qemu-img create -q -f qcow2 "$work/images/$1" "$2" || bail "qemu-img create $1 failed"
        if [ -n "${3:-}" ]; then
                qemu-io -f qcow2 -c "write -P 0x5a 0 $3" "$work/images/$1" >/dev/null ||
                        bail "qemu-io write $1 failed"
        fi
}
disk_xml() { # disk_xml IMAGE TARGET
        echo "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='$work/images/$1'/><target dev='$2' bus='virtio'/></disk>"
}
domain_xml() { # domain_xml NAME UUID DISKS-XML
        cat <<EOF
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>$1</name>
    <uuid>$2</uuid>
    <memory unit='MiB'>64</memory>
    <vcpu>1</vcpu>
    <os><type arch='x86_64'>hvm</type></os>
    <devices>$3</devices>
    <test:runstate>5</test:runstate>
  </domain>
EOF
}
image alpha-vda.qcow2 64M 1M
image alpha-vdb.qcow2 64M
image beta-vda.qcow2 64M 1M
# gamma: many disks, so that a snapshot of it takes a while, reports progress step by
# step, and can be canceled half-way.
letters=(a b c d e f g h i j k l m n o p q r s t u v w x y z)
gamma_disks=""
for i in $(seq 0 47); do
        if [ "$i" -lt 26 ]; then target=vd${letters[i]}; else target=vda${letters[i - 26]}; fi
        image "gamma-$target.qcow2" 16M
        gamma_disks+=$(disk_xml "gamma-$target.qcow2" "$target")
done
# delta: one disk of each kind a snapshot cannot include, beside two it can.
image delta-vda.qcow2 64M 1M
qemu-img create -q -f raw "$work/images/delta-vdb.img" 32M || bail "qemu-img create delta-vdb.img failed"
image delta-vdc.qcow2 16M
qemu-img create -q -f raw "$work/images/delta-vdd.img" 16M || bail "qemu-img create delta-vdd.img failed"
qemu-img create -q -f raw "$work/images/delta-cd.iso" 1M || bail "qemu-img create delta-cd.iso failed"
delta_disks="$(disk_xml delta-vda.qcow2 vda)"
delta_disks+="<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='$work/images/delta-vdb.img'/><target dev='vdb' bus='virtio'/></disk>"
delta_disks+="<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='$work/images/delta-vdc.qcow2'/><target dev='vdc' bus='virtio'/><readonly/></disk>"
delta_disks+="<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='$work/images/delta-vdd.img'/><target dev='vdd' bus='virtio'/><shareable/></disk>"
delta_disks+="<disk type='network' device='disk'><driver name='qemu' type='raw'/><source protocol='nbd' name='export'><host name='192.0.2.1' port='10809'/></source><target dev='vde' bus='virtio'/></disk>"
delta_disks+="<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='$work/images/delta-cd.iso'/><target dev='hdc' bus='ide'/><readonly/></disk>"
{
        echo "<node>"
        domain_xml alpha 11111111-1111-4111-8111-111111111111 \
                "$(disk_xml alpha-vda.qcow2 vda)$(disk_xml alpha-vdb.qcow2 vdb)"
        domain_xml beta 22222222-2222-4222-8222-222222222222 "$(disk_xml beta-vda.qcow2 vda)"
        domain_xml gamma 33333333-3333-4333-8333-333333333333 "$gamma_disks"
        domain_xml delta 44444444-4444-4444-8444-444444444444 "$delta_disks"
        echo "</node>"
} >"$work/node.xml"

# ---- vmsnapd ----
daemon_args=(--connect "test://$work/node.xml" --state-dir "$work/state" --bus-address "$address" "$@")
# VMSNAP_BUS_PRIVATE_JOURNAL=1: vmsnapd runs in a private mount namespace where the journal's
# socket is journal-ns.sh's listener, which writes what it receives to $work/journal.jsonl.
launcher=()
if [ "${VMSNAP_BUS_PRIVATE_JOURNAL:-0}" = 1 ]; then
        command -v unshare >/dev/null || skip "unshare is missing (apt-get install util-linux)"
        unshare --mount --propagation private true 2>/dev/null ||
                skip "cannot make a private mount namespace here (unshare --mount)"
        launcher=(unshare --mount --propagation private -- "$source_root/tests/bus/journal-ns.sh"
                "$work/journal.jsonl")
fi
# VMSNAP_BUS_SLOW_DISK: slow-disk.c, preloaded so that gamma's disks are slow to take new
# files (20 ms each): a snapshot of its 48 disks takes about a second, as it would on a busy
# disk, long enough to watch its progress and to cancel it. The sanitizers' runtime then
# does not come first among the libraries, which is fine for a preload that only waits.
slow_env=()
if [ -n "${VMSNAP_BUS_SLOW_DISK:-}" ]; then
        slow_env=(env "LD_PRELOAD=$VMSNAP_BUS_SLOW_DISK" VMSNAP_SLOW_DISK_PREFIX=gamma- VMSNAP_SLOW_DISK_MS=20
                "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0")
fi
"${launcher[@]}" "${slow_env[@]}" "$vmsnapd" "${daemon_args[@]}" 2>"$work/vmsnapd.log" &
vmsnapd_pid=$!
pids+=($vmsnapd_pid)
gdbus wait --system --timeout 20 org.example.Snapshots ||
        bail "vmsnapd did not appear on the bus: $(cat "$work/vmsnapd.log")"

# ---- the test program ----
export VMSNAP_TEST_DIR=$work VMSNAP_BUS_ADDRESS=$address VMSNAPD=$vmsnapd VMSNAPD_PID=$vmsnapd_pid
export VMSNAP_SOURCE_ROOT=$source_root VMSNAP_PYTHON=$python POLKITD_PID=$polkitd_pid
"$python" -u "$test_program" | tee "$work/tap"
count=$(grep -cE '^(ok|not ok)\b' "$work/tap")

# ---- the last case: a clean exit ----
count=$((count + 1))
stop_signal=${VMSNAP_BUS_STOP_SIGNAL:-TERM}
if kill -0 "$vmsnapd_pid" 2>/dev/null; then
        name="vmsnapd exits with status 0 on SIG$stop_signal, with nothing leaked or undefined"
        kill -"$stop_signal" "$vmsnapd_pid"
        for _ in $(seq 300); do
                kill -0 "$vmsnapd_pid" 2>/dev/null || break
                sleep 0.1
        done
else
        name="vmsnapd, stopped by the test, exited with status 0, with nothing leaked or undefined"
fi
if kill -0 "$vmsnapd_pid" 2>/dev/null; then
        status="still running 30 s after SIG$stop_signal"
else
        wait "$vmsnapd_pid"
        status=$?
fi
if [ "$status" = 0 ] && ! grep -qE 'Sanitizer|runtime error:' "$work/vmsnapd.log"; then
        echo "ok $count - $name"
else
        echo "not ok $count - $name"
        echo "# exit status: $status"
        sed 's/^/# /' "$work/vmsnapd.log" | head -200
fi
echo "1..$count"
