#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vmsnap-bus-demo.sh [BUILD_DIR]: vmsnap's main job through its bus service.
#
# Starts, in a temporary directory and without touching the system: a private
# dbus-daemon, vmsnapd on it against libvirt's test driver (a three-disk VM whose
# disks are real qcow2 files), then drives vmsnapd with vmsnapctl, the command
# line administrators use: create -> custom preview -> commit -> create -> preview
# -> undo -> delete (merge) -> clone, printing every command, each job's progress
# and result, and the snapshot tree after each step.
set -euo pipefail
build=$(realpath "${1:-build}")
vmsnapd="$build/dbus/vmsnapd"
[ -x "$vmsnapd" ] && [ -x "$build/cli/vmsnapctl" ] ||
        { echo "vmsnapd or vmsnapctl not found in $build (build first: meson compile -C $build)"; exit 1; }

. "$(dirname "$(realpath "$0")")/../../tests/private-bus.sh"

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
private_bus_start "$work" && bus_started=0 || bus_started=$?
pids+=($private_bus_pid)
[ "$bus_started" = 0 ] || { echo "vmsnap-bus-demo: dbus-daemon did not start (no socket $work/bus)"; exit 1; }
address=$private_bus_address
"$vmsnapd" --connect "test://$work/node.xml" --state-dir "$work/state" --bus-address "$address" &
pids+=($!)
for _ in $(seq 100); do busctl --address="$address" status org.example.Snapshots >/dev/null 2>&1 && break; sleep 0.05; done

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# vmsnapctl, the administrators' command line over the bus: each call is printed as
# typed. A changing command waits for its job, with a progress bar on a terminal (one
# line per state change otherwise), and prints its result and messages.
vmsnapctl() {
        printf '\033[2m$ vmsnapctl %s\033[0m\n' "$*"
        "$build/cli/vmsnapctl" --bus-address="$address" "$@"
}

say "the domains vmsnapd sees"
vmsnapctl list

say "create \"fresh-install\" of every disk"
vmsnapctl create demo-vm fresh-install --description "OS installed"
vmsnapctl tree demo-vm
say "create \"configured\" of vda and vdb only"
vmsnapctl create demo-vm configured --disk vda --disk vdb
vmsnapctl tree demo-vm
say "custom preview: configuration and vda from \"configured\", vdb from \"fresh-install\""
vmsnapctl preview demo-vm configured --disk vdb=fresh-install
vmsnapctl list
say "commit the preview"
vmsnapctl commit demo-vm
say "create \"after-commit\""
vmsnapctl create demo-vm after-commit
vmsnapctl tree demo-vm
say "preview \"fresh-install\", then undo"
vmsnapctl preview demo-vm fresh-install
vmsnapctl undo demo-vm
say "delete \"configured\" (merge: its child moves up, every other state reads the same)"
vmsnapctl delete demo-vm configured
vmsnapctl tree demo-vm
say "clone a new VM from \"after-commit\" (a progress bar on a terminal)"
vmsnapctl clone demo-vm after-commit --dir "$work/images"
vmsnapctl list
say "what was done, oldest first"
vmsnapctl history demo-vm
echo
echo "The same through busctl, the bus reference (README, \"The bus service\"):"
echo "  busctl call org.example.Snapshots /org/example/Snapshots org.example.Snapshots Create sssasa{sv} demo-vm fresh-install \"OS installed\" 0 0"
echo
echo "files in $work/images:"
ls -ls "$work/images"
echo "(removed with the demo's directory: rm -r $work)"
