#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vmsnap-bus-demo.sh [BUILD_DIR]: vmsnap's main job through its bus service.
#
# Starts, in a temporary directory and without touching the system: a private
# dbus-daemon, vmsnapd on it against libvirt's test driver (a three-disk VM whose
# disks are real qcow2 files), then drives vmsnapd with busctl exactly as a
# script on a hypervisor would: create -> custom preview -> commit -> create ->
# preview -> undo -> delete (merge) -> clone, printing every call, the jobs with
# their progress, and the snapshot tree after each step.
set -euo pipefail
build=$(realpath "${1:-build}")
vmsnapd="$build/dbus/vmsnapd"
[ -x "$vmsnapd" ] || { echo "vmsnapd not found in $build/dbus (build first: meson compile -C $build)"; exit 1; }

work=$(mktemp -d /tmp/vmsnap-bus-demo-XXXXXX)
pids=()
cleanup() {
        for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
        wait 2>/dev/null || true
}
trap cleanup EXIT

# The VM: three qcow2 disks and a cdrom, shut off, on the test driver.
mkdir -p "$work/images"
for disk in vda vdb vdc; do qemu-img create -q -f qcow2 "$work/images/$disk.qcow2" 256M; done
# Some data on vda, so that copies have something to copy.
qemu-io -f qcow2 -c "write -P 0x11 0 96M" "$work/images/vda.qcow2" >/dev/null
cat >"$work/node.xml" <<EOF
<node>
 <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
  <name>demo-vm</name>
  <memory unit='MiB'>512</memory>
  <os><type>hvm</type></os>
  <devices>
   <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='$work/images/vda.qcow2'/><target dev='vda' bus='virtio'/></disk>
   <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='$work/images/vdb.qcow2'/><target dev='vdb' bus='virtio'/></disk>
   <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='$work/images/vdc.qcow2'/><target dev='vdc' bus='virtio'/></disk>
   <disk type='file' device='cdrom'><target dev='hdc' bus='ide'/><readonly/></disk>
  </devices>
  <test:runstate>5</test:runstate>
 </domain>
</node>
EOF

# A private bus standing in for the system bus.
cat >"$work/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path=$work/bus</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_destination="*"/><allow receive_sender="*"/></policy>
</busconfig>
EOF
dbus-daemon --config-file="$work/bus.conf" --nofork --nopidfile &
pids+=($!)
for _ in $(seq 100); do [ -S "$work/bus" ] && break; sleep 0.05; done
address="unix:path=$work/bus"
"$vmsnapd" --connect "test://$work/node.xml" --state-dir "$work/state" --bus-address "$address" &
pids+=($!)
for _ in $(seq 100); do busctl --address="$address" status org.example.Snapshots >/dev/null 2>&1 && break; sleep 0.05; done

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
call() { # METHOD SIGNATURE ARGS...: prints the call and its reply
        echo "\$ busctl call org.example.Snapshots /org/example/Snapshots org.example.Snapshots $*" >&2
        busctl --address="$address" call org.example.Snapshots /org/example/Snapshots org.example.Snapshots "$@"
}
job_property() { # PATH NAME
        busctl --address="$address" get-property org.example.Snapshots "$1" org.example.Snapshots.Job "$2" | cut -d' ' -f2-
}
wait_job() { # reads 'o "/path"' on stdin, follows the job to its end
        local path state
        path=$(sed -n 's/^o "\(.*\)"$/\1/p')
        echo "   job $path: $(job_property "$path" Operation)"
        while :; do
                state=$(job_property "$path" State | tr -d '"')
                printf '   %-8s progress %5.1f%%\n' "$state" \
                        "$(echo "$(job_property "$path" Progress) * 100" | bc -l)"
                case $state in done | failed | canceled) break ;; esac
                sleep 0.2
        done
        [ "$(job_property "$path" Messages)" != "0" ] && echo "   messages: $(job_property "$path" Messages)"
        [ "$state" = done ] || { echo "   error: $(job_property "$path" Error)"; exit 1; }
        echo "   result: $(job_property "$path" Result)"
}
tree() {
        busctl --address="$address" --json=short call org.example.Snapshots /org/example/Snapshots \
                org.example.Snapshots ListSnapshots s demo-vm | python3 -c '
import json, sys
snaps = json.load(sys.stdin)["data"][0]
v = lambda s, k: s[k]["data"]
def show(parent, depth):
    for s in snaps:
        if v(s, "parent") != parent:
            continue
        marks = ("  <- current" if v(s, "current") else "") + ("  (locked)" if v(s, "locked") else "")
        print("   %s%s %s  [disks %s]%s" % ("    " * depth, "└─" if depth else "●", v(s, "name"),
              ",".join(v(s, "disks")), marks))
        show(v(s, "id"), depth + 1)
show("", 0)'
}

say "the domains vmsnapd sees"
call ListDomains

say "create \"fresh-install\" of every disk"
call Create 'sssasa{sv}' demo-vm fresh-install "OS installed" 0 0 | wait_job
tree
say "create \"configured\" of vda and vdb only"
call Create 'sssasa{sv}' demo-vm configured "" 2 vda vdb 0 | wait_job
tree
say "custom preview: configuration and vda from \"configured\", vdb from \"fresh-install\""
call Preview 'ssa{ss}a{sv}' demo-vm configured 1 vdb fresh-install 0 | wait_job
call ListDomains
say "commit the preview"
call Commit 'sa{sv}' demo-vm 0 | wait_job
say "create \"after-commit\""
call Create 'sssasa{sv}' demo-vm after-commit "" 0 0 | wait_job
tree
say "preview \"fresh-install\", then undo"
call Preview 'ssa{ss}a{sv}' demo-vm fresh-install 0 0 | wait_job
call Undo 'sa{sv}' demo-vm 0 | wait_job
say "delete \"configured\" (merge: its child moves up, every other state reads the same)"
call Delete 'ssa{sv}' demo-vm configured 0 | wait_job
tree
say "clone a new VM from \"after-commit\""
call Clone 'sssa{sv}' demo-vm after-commit "" 1 target_dir s "$work/images" | wait_job
call ListDomains
echo
echo "files in $work/images:"
ls -ls "$work/images"
echo "(removed with the demo's directory: rm -r $work)"
