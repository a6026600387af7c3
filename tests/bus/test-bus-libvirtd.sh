#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# test-bus-libvirtd.sh VMSNAPD: vmsnapd against a real libvirtd (qemu:///system) on a
# private bus, for what the test driver cannot show: a domain undefined behind
# vmsnapd's back loses its metadata (its images stay) and SnapshotsChanged says so,
# and vmsnapd keeps working after libvirtd restarts. The test owns the libvirtd it
# restarts, so it skips when one is already running. Also what needs a running
# domain: Commit and Undo refuse it with DomainRunning unless given the option stop,
# and Cancel stops a live merge's block job leaving the domain as it was.
# TAP on stdout.
set -u
vmsnapd=$(realpath "$1")

skip() {
        echo "1..0 # SKIP $*"
        exit 0
}
[ "$(id -u)" = 0 ] || skip "starting libvirtd needs root"
command -v libvirtd >/dev/null || skip "libvirtd is not installed"

. "$(dirname "$0")/../libvirtd.sh"
. "$(dirname "$0")/../private-bus.sh"
libvirtd_lock
libvirtd_running && skip "a libvirtd is already running; this test restarts its own"

work=$(mktemp -d /var/tmp/vmsnap-bus-libvirtd-XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
        virsh -q -c qemu:///system undefine bus-vm >/dev/null 2>&1
        virsh -q -c qemu:///system destroy bus-merge-vm >/dev/null 2>&1
        virsh -q -c qemu:///system undefine bus-merge-vm >/dev/null 2>&1
        for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
        libvirtd_stop
        [ -n "$hook_installed" ] && rm -f "$hook_installed"
        rm -rf "$work"
}
trap cleanup EXIT

# libvirtd finds hooks only when it starts: vmsnap's hook is installed for the run
# unless one is there already.
hook=/etc/libvirt/hooks/qemu.d/vmsnap
hook_installed=
if [ ! -e "$hook" ] && mkdir -p "${hook%/*}" &&
        install -m 0755 "$(dirname "$0")/../../packaging/libvirt-hook/vmsnap" "$hook"; then
        hook_installed=$hook
fi

libvirtd_start "$work" || skip "libvirtd did not start or answer within 60 s"

private_bus_start "$work" && bus_started=0 || bus_started=$?
pids+=($private_bus_pid)
[ "$bus_started" = 0 ] || { echo "Bail out! dbus-daemon did not start (no socket $work/bus)"; exit 1; }
address=$private_bus_address
"$vmsnapd" --connect qemu:///system --state-dir "$work/state" --bus-address "$address" 2>"$work/vmsnapd.log" &
vmsnapd_pid=$!
pids+=($vmsnapd_pid)
bus() { busctl --address="$address" "$@"; }
call() { bus call org.example.Snapshots /org/example/Snapshots org.example.Snapshots "$@"; }
for _ in $(seq 100); do bus status org.example.Snapshots >/dev/null 2>&1 && break; sleep 0.05; done

qemu-img create -q -f qcow2 "$work/disk.qcow2" 16M
cat >"$work/vm.xml" <<EOF
<domain type='qemu'><name>bus-vm</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type></os><devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='$work/disk.qcow2'/><target dev='vda' bus='virtio'/></disk>
<video><model type='none'/></video><memballoon model='none'/></devices>
<seclabel type='static' model='dac' relabel='no'><label>+0:+0</label></seclabel></domain>
EOF
virsh -q -c qemu:///system define "$work/vm.xml" >/dev/null
uuid=$(virsh -q -c qemu:///system domuuid bus-vm)

wait_job() { # PATH: the job's final State
        local state
        for _ in $(seq 300); do
                state=$(bus get-property org.example.Snapshots "$1" org.example.Snapshots.Job State | cut -d'"' -f2)
                case $state in done | failed | canceled) break ;; esac
                sleep 0.1
        done
        echo "$state"
}
create() { wait_job "$(call Create sssasa{sv} bus-vm "$1" "" 0 0 | cut -d'"' -f2)"; }

n=0
result() { # NAME CONDITION...
        local name=$1
        shift
        n=$((n + 1))
        if "$@"; then echo "ok $n - $name"; else echo "not ok $n - $name"; fi
}
echo "1..16"

result "a snapshot of a shut-off domain on real libvirtd is created through the bus" \
        test "$(create s1)" = done

# A preview whose domain was started meanwhile: ending it replaces the running disks.
domain_state_of() { virsh -q -c qemu:///system domstate "$1" | head -n 1; }
domain_state() { domain_state_of bus-vm; }
in_preview() { call --json=short ListDomains | python3 -c '
import json, sys
print([d["in_preview"]["data"] for d in json.load(sys.stdin)["data"][0] if d["name"]["data"] == "bus-vm"][0])'; }
# METHOD: the preview of s1 on the running domain, ended by METHOD without and then with stop.
end_running_preview() {
        local method=$1 refused ended
        wait_job "$(call Preview 'ssa{ss}a{sv}' bus-vm s1 0 0 | cut -d'"' -f2)" >/dev/null
        virsh -q -c qemu:///system start bus-vm >/dev/null
        refused=$(gdbus call --address "$address" --dest org.example.Snapshots --object-path /org/example/Snapshots \
                --method "org.example.Snapshots.$method" bus-vm {} 2>&1)
        result "$method of a running domain's preview is refused with DomainRunning naming the option stop" \
                eval '[[ $refused == *Error.DomainRunning:*"option stop"* ]] && [ "$(domain_state)" = running ] &&
                      [ "$(in_preview)" = True ]'
        ended=$(wait_job "$(call "$method" 'sa{sv}' bus-vm 1 stop b true | cut -d'"' -f2)")
        result "$method with the option stop stops the domain and ends the preview" \
                eval '[ "$ended" = done ] && [ "$(domain_state)" = "shut off" ] && [ "$(in_preview)" = False ]'
}
end_running_preview Commit
end_running_preview Undo

# A live merge canceled through the bus while libvirt pulls data into the running disk:
# a <- o1 (s2, 1 GiB of data) <- o2 (active, 1.25 GiB), so deleting s2 pulls o1 into o2
# (committing o2 down would copy more).
mkdir "$work/merge"
qemu-img create -q -f qcow2 "$work/merge/disk.qcow2" 2G
sed -e 's/bus-vm/bus-merge-vm/' -e "s|$work/disk.qcow2|$work/merge/disk.qcow2|" "$work/vm.xml" >"$work/merge.xml"
virsh -q -c qemu:///system define "$work/merge.xml" >/dev/null
merge_call() { wait_job "$(call "$@" | cut -d'"' -f2)"; }
active_source() { virsh -q -c qemu:///system domblklist bus-merge-vm | awk '$1 == "vda" {print $2}'; }
merge_call Create sssasa{sv} bus-merge-vm s1 "" 0 0 >/dev/null
qemu-io -f qcow2 -c "write -P 0x31 0 1G" "$(active_source)" >/dev/null
merge_call Create sssasa{sv} bus-merge-vm s2 "" 0 0 >/dev/null
qemu-io -f qcow2 -c "write -P 0x41 512M 1280M" "$(active_source)" >/dev/null
virsh -q -c qemu:///system start bus-merge-vm >/dev/null
o2=$(active_source)
o1=$(qemu-img info -U --output=json "$o2" | python3 -c 'import json, sys; print(json.load(sys.stdin)["full-backing-filename"])')
files_before=$(ls "$work/merge" | sort)
job=$(call Delete ssa{sv} bus-merge-vm s2 0 | cut -d'"' -f2)
# Slow the pull down to 1 MiB/s as soon as it shows, so that the cancel comes halfway.
throttled=
for _ in $(seq 2000); do
        # virsh prints a job's progress on stderr.
        if virsh -q -c qemu:///system blockjob bus-merge-vm vda 2>&1 | grep -q "Block Pull"; then
                virsh -q -c qemu:///system blockjob bus-merge-vm vda --bandwidth 1 >/dev/null 2>&1 && throttled=yes
                break
        fi
        sleep 0.01
done
if [ -z "$throttled" ]; then
        for _ in 1 2 3 4; do
                n=$((n + 1))
                echo "ok $n # SKIP the block pull ended before it could be slowed down to be canceled (the job: $(bus get-property org.example.Snapshots "$job" org.example.Snapshots.Job State Error 2>&1 | tr '\n' ' '))"
        done
else
        sleep 1
        bus call org.example.Snapshots "$job" org.example.Snapshots.Job Cancel
        state=$(wait_job "$job")
        error=$(bus get-property org.example.Snapshots "$job" org.example.Snapshots.Job Error)
        result "Cancel during a live merge's block pull ends the job canceled, saying nothing was changed" \
                eval '[ "$state" = canceled ] && [[ $error == *"nothing was changed"* ]]'
        result "after the cancel no block job runs and the domain runs on its chain as before" \
                eval '! virsh -q -c qemu:///system blockjob bus-merge-vm vda 2>&1 | grep -q "Block" &&
                      [ "$(domain_state_of bus-merge-vm)" = running ] && [ "$(active_source)" = "$o2" ] &&
                      [ "$(qemu-img info -U --output=json "$o2" | grep -c "\"full-backing-filename\": \"$o1\"")" = 1 ]'
        result "after the cancel the snapshot is still listed and no file came or went" \
                eval 'call ListSnapshots s bus-merge-vm | grep -q "\"s2\"" && [ "$(ls "$work/merge" | sort)" = "$files_before" ]'
        result "the same Delete, not canceled, then merges the snapshot away" \
                eval '[ "$(merge_call Delete ssa{sv} bus-merge-vm s2 0)" = done ] && [ ! -e "$o1" ]'
fi
virsh -q -c qemu:///system destroy bus-merge-vm >/dev/null 2>&1

bus monitor --match "type='signal',member='SnapshotsChanged'" >"$work/signals" 2>&1 &
monitor=$!
pids+=($monitor)
sleep 0.5
snapshots_before=$(call ListSnapshots s bus-vm | grep -o '"s1"' | head -1)
virsh -q -c qemu:///system dumpxml --inactive bus-vm >"$work/vm-now.xml"
virsh -q -c qemu:///system undefine bus-vm >/dev/null
for _ in $(seq 100); do
        grep -q "$uuid" "$work/signals" && break
        sleep 0.1
done
result "SnapshotsChanged names a domain undefined behind vmsnapd's back" grep -q "$uuid" "$work/signals"
result "a domain undefined behind vmsnapd's back keeps its metadata, and its images stay" \
        test -e "$work/state/$uuid.json" -a -e "$work/disk.qcow2" -a "$(ls "$work" | grep -c vmsnap-)" -ge 1
result "ListDomains lists the undefined domain with defined false and its snapshots" \
        eval 'call ListDomains | grep -q "\"uuid\" s \"$uuid\" \"state\" s \"undefined\".*\"defined\" b false"'

# Defined again from the saved XML (the usual way to edit a VM): the tree is back.
virsh -q -c qemu:///system define "$work/vm-now.xml" >/dev/null
result "a define with the same UUID brings the tree back" \
        eval '[ -n "$snapshots_before" ] && call ListSnapshots s bus-vm | grep -q "\"s1\""'

# libvirtd restarts (an upgrade): vmsnapd reconnects and goes on.
libvirtd_restart "$work"
result "vmsnapd serves the domain again after libvirtd restarted" test "$(create after-restart)" = done

# ---- vmsnapd under the shipped unit's sandbox ----
# tests/unit-sandbox.sh gives vmsnapd the file system the unit gives it: everything
# read-only but ReadWritePaths=, RuntimeDirectory=, StateDirectory= (and the test's
# directory, as a drop-in would add an image directory). A merge of a shut-off domain
# holds it in /run/vmsnap/hold, and libvirt's hook refuses a start meanwhile.
unit=$(dirname "$vmsnapd")/../packaging/vmsnapd.service
sandboxed() { # UNIT: vmsnapd restarted under that unit's sandbox
        kill "$vmsnapd_pid" 2>/dev/null && wait "$vmsnapd_pid" 2>/dev/null
        VMSNAP_SANDBOX_WRITABLE=$work "$(dirname "$0")/../unit-sandbox.sh" "$1" "$vmsnapd" --connect qemu:///system \
                --state-dir "$work/state" --bus-address "$address" 2>>"$work/vmsnapd.log" &
        vmsnapd_pid=$!
        pids+=($vmsnapd_pid)
        for _ in $(seq 100); do call ListDomains >/dev/null 2>&1 && break; sleep 0.05; done
}
sandboxed "$unit"
mkdir "$work/sandbox"
qemu-img create -q -f qcow2 "$work/sandbox/disk.qcow2" 2G
sed -e 's/bus-vm/bus-sandbox-vm/' -e "s|$work/disk.qcow2|$work/sandbox/disk.qcow2|" "$work/vm.xml" >"$work/sandbox.xml"
virsh -q -c qemu:///system define "$work/sandbox.xml" >/dev/null
sandbox_uuid=$(virsh -q -c qemu:///system domuuid bus-sandbox-vm)
sandbox_source() { virsh -q -c qemu:///system domblklist bus-sandbox-vm | awk '$1 == "vda" {print $2}'; }
merge_call Create sssasa{sv} bus-sandbox-vm s1 "" 0 0 >/dev/null
qemu-io -f qcow2 -c "write -P 0x51 0 768M" "$(sandbox_source)" >/dev/null
merge_call Create sssasa{sv} bus-sandbox-vm s2 "" 0 0 >/dev/null
qemu-io -f qcow2 -c "write -P 0x61 512M 768M" "$(sandbox_source)" >/dev/null
job=$(call Delete ssa{sv} bus-sandbox-vm s2 0 | cut -d'"' -f2)
for _ in $(seq 2000); do [ -e "/run/vmsnap/hold/$sandbox_uuid" ] && break; sleep 0.005; done
start_output=$(virsh -q -c qemu:///system start bus-sandbox-vm 2>&1)
start_status=$?
merge_state=$(wait_job "$job")
result "under the unit's sandbox a merge of a shut-off domain holds it, and libvirt's hook refuses its start" \
        eval '[ "$start_status" != 0 ] && [[ "$start_output" == *"vmsnap is running a merge"* ]] &&
                [ "$merge_state" = done ] && [ "$(domain_state_of bus-sandbox-vm)" = "shut off" ] ||
                { echo "# start: $start_status $start_output; merge: $merge_state"; false; }'

# The same sandbox without RuntimeDirectory= (how the unit once was): /run is read-only,
# no hold can be written, and the merge is refused before it changes anything.
grep -v '^RuntimeDirectory' "$unit" >"$work/no-runtime-dir.service"
sandboxed "$work/no-runtime-dir.service"
files_before=$(ls "$work/sandbox" | sort)
job=$(call Delete ssa{sv} bus-sandbox-vm s1 0 | cut -d'"' -f2)
merge_state=$(wait_job "$job")
merge_error=$(bus get-property org.example.Snapshots "$job" org.example.Snapshots.Job Error)
result "without a writable /run/vmsnap a merge of a shut-off domain is refused, naming it, and changes nothing" \
        eval '[ "$merge_state" = failed ] && [[ "$merge_error" == *"cannot be held against starts"*"/run/vmsnap/hold"* ]] &&
                [ "$(ls "$work/sandbox" | sort)" = "$files_before" ] && call ListSnapshots s bus-sandbox-vm | grep -q "\"s1\"" ||
                { echo "# merge: $merge_state $merge_error"; false; }'
virsh -q -c qemu:///system undefine bus-sandbox-vm >/dev/null 2>&1
