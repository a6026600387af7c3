#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# test-rbd-daemons.sh VMSNAPD VMSNAPCTL: two hosts sharing one Ceph cluster, as the
# README's "Many hosts" describes them: two vmsnapd processes, each with its own private
# system bus, state directory and libvirt connection (the test driver, each defining the
# same VM: same name, same UUID, its one disk an RBD image), driven through vmsnapctl.
# The VM's tree lives in the cluster; the test checks what each host sees, that changes
# through both at once are serialized, and that a vmsnapd killed in the middle of a
# change is recovered from by the other host once its lease ran out, with the tree and
# the cluster's RBD snapshots agreeing after every step. TAP; as root (the daemons
# authorize root without polkit on a private bus); skipped where no cluster can start.
set -u

vmsnapd=$1
vmsnapctl=$2
here=$(dirname "$(realpath "$0")")
lease=3

skip() {
        echo "1..0 # SKIP $*"
        exit 0
}
[ "$(id -u)" = 0 ] || skip "needs root (private system buses and a Ceph cluster)"
. "$here/ceph.sh"
. "$here/private-bus.sh"
ceph_unavailable && skip "$ceph_reason"

work=$(mktemp -d /tmp/vmsnap-rbd-daemons-XXXXXX)
declare -A daemon_pid bus_pid
cleanup() {
        set +e
        # Only these: the cluster's daemons are children too, and ceph_stop ends them.
        for host in a b; do
                [ -n "${daemon_pid[$host]:-}" ] && kill -9 "${daemon_pid[$host]}" 2>/dev/null &&
                        wait "${daemon_pid[$host]}" 2>/dev/null
                [ -n "${bus_pid[$host]:-}" ] && kill "${bus_pid[$host]}" 2>/dev/null && wait "${bus_pid[$host]}" 2>/dev/null
        done
        ceph_stop
        rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT
ceph_start || skip "$ceph_reason"

failed=0
n=0
ok() {
        n=$((n + 1))
        echo "ok $n - $1"
}
not_ok() {
        n=$((n + 1))
        failed=$((failed + 1))
        echo "not ok $n - $1"
        shift
        printf '# %s\n' "$@"
}
bail() {
        echo "Bail out! $*"
        exit 1
}

pool=$CEPH_POOL
image=shared-vm-vda
uuid=7d3c1c2e-5b0a-4f35-9a51-2b8e8c6d1f00
mon_host=${CEPH_MON_HOST%:*}
mon_port=${CEPH_MON_HOST##*:}
rbd -c "$CEPH_CONF" create --size 16M "$pool/$image" || bail "cannot create $pool/$image"
qemu-io -f raw -c "write -P 0x5a 0 1M" "rbd:$pool/$image:conf=$CEPH_CONF" >/dev/null ||
        bail "cannot write into $pool/$image"

# start_host HOST: that host's bus (once) and its vmsnapd, waiting until it serves.
start_host() {
        local host=$1 dir=$work/$1
        if [ -z "${bus_pid[$host]:-}" ]; then
                mkdir -p "$dir"
                cat >"$dir/node.xml" <<EOF
<node>
 <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
  <name>shared-vm</name>
  <uuid>$uuid</uuid>
  <memory unit='MiB'>256</memory>
  <os><type>hvm</type></os>
  <devices>
   <disk type='network' device='disk'><driver name='qemu' type='raw'/>
    <source protocol='rbd' name='$pool/$image'><host name='$mon_host' port='$mon_port'/><config file='$CEPH_CONF'/></source>
    <target dev='vda' bus='virtio'/></disk>
  </devices>
  <test:runstate>5</test:runstate>
 </domain>
</node>
EOF
                private_bus_start "$dir" || bail "the bus of host $host did not start"
                bus_pid[$host]=$private_bus_pid
        fi
        "$vmsnapd" --connect "test://$dir/node.xml" --state-dir "$dir/state" --bus-address "unix:path=$dir/bus" \
                --rbd-lease "$lease" 2>>"$dir/vmsnapd.log" &
        daemon_pid[$host]=$!
        for _ in $(seq 200); do
                busctl --address="unix:path=$dir/bus" status org.example.Snapshots >/dev/null 2>&1 && return 0
                sleep 0.05
        done
        bail "vmsnapd of host $host did not start: $(tail -3 "$dir/vmsnapd.log")"
}

ctl() {
        local host=$1
        shift
        "$vmsnapctl" --bus-address="unix:path=$work/$host/bus" "$@"
}

# A host answers reads from its copy of the tree for up to 2 s before it looks at the
# cluster again (README, "Many hosts"): what one host changed is read through the other
# after that.
settle() {
        sleep 2.2
}

# ids HOST: the snapshot ids in the host's tree, sorted, one line each.
ids() {
        ctl "$1" --json tree shared-vm | python3 -c 'import json, sys; print("\n".join(sorted(r["id"] for r in json.load(sys.stdin))))'
}
# id_of HOST NAME and parent_of HOST NAME: from that host's record of the snapshot.
field_of() {
        ctl "$1" --json show shared-vm "$2" | python3 -c "import json, sys; print(json.load(sys.stdin)['$3'])"
}
# cluster_ids: the ids of the vmsnap snapshots of the image, sorted.
cluster_ids() {
        rbd -c "$CEPH_CONF" snap ls --format json "$pool/$image" |
                python3 -c 'import json, sys; print("\n".join(sorted(s["name"][len("vmsnap-"):] for s in json.load(sys.stdin) if s["name"].startswith("vmsnap-"))))'
}
# cluster_intent: the intent recorded in the tree's object, "null" when none.
cluster_intent() {
        rados -c "$CEPH_CONF" -p "$pool" get "vmsnap.domain.$uuid" - 2>/dev/null |
                python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin).get("intent")))'
}
# agree HOST...: the trees of the hosts and the image's snapshots are one set; the image
# has no clone left over. Prints what differs.
agree() {
        settle
        local reference=$(cluster_ids) host
        for host in "$@"; do
                local seen=$(ids "$host")
                [ "$seen" = "$reference" ] || { echo "host $host sees [$seen], the cluster holds [$reference]"; return 1; }
        done
        local images=$(rbd -c "$CEPH_CONF" ls "$pool" | tr '\n' ' ')
        [ "$images" = "$image " ] || { echo "the pool holds more than the VM's image: $images"; return 1; }
}

echo "1..4"
start_host a
start_host b

# 1: each host sees what the other did.
if ! out=$(ctl a create shared-vm one 2>&1); then
        not_ok "a change through one host is seen by the other" "create through host a failed: $out"
elif ! out=$(ctl b create shared-vm two 2>&1); then
        not_ok "a change through one host is seen by the other" "create through host b failed: $out"
else
        settle
        one=$(field_of a one id)
        parent=$(field_of a two parent)
        ids_a=$(ids a)
        ids_b=$(ids b)
        if [ "$parent" != "$one" ] || [ "$ids_a" != "$ids_b" ] || [ "$(echo "$ids_a" | wc -l)" != 2 ]; then
                not_ok "a change through one host is seen by the other" \
                        "host a sees two's parent as '$parent', one is '$one'" "a: $ids_a" "b: $ids_b"
        elif ! out=$(ctl b delete shared-vm one 2>&1) || ! why=$(agree a b) ||
                [ "$(cluster_ids)" != "$(field_of a two id)" ]; then
                not_ok "a change through one host is seen by the other" "after host b deleted one: $out ${why:-}"
        else
                ok "a change through one host is seen by the other: one made through a is two's parent in b's tree; b's delete of it leaves a's tree and the image with two alone"
        fi
fi

# 2: changes through both hosts at once.
before=$(ids a | wc -l)
pids=()
for i in 1 2 3 4; do
        for host in a b; do
                ctl "$host" create shared-vm "race-$host-$i" >"$work/race-$host-$i.out" 2>&1 &
                pids+=($!)
        done
done
made=0 busy=0 other=""
k=0
for i in 1 2 3 4; do
        for host in a b; do
                wait "${pids[$k]}"
                status=$?
                k=$((k + 1))
                case $status in
                0) made=$((made + 1)) ;;
                # Busy names the holder, or "another host" when the holder let go between
                # the refused attempt and the question who held it.
                11) busy=$((busy + 1))
                    grep -Eq "is being changed by (host [^;]*, vmsnap [0-9]+|another host)" \
                        "$work/race-$host-$i.out" ||
                        other+=" race-$host-$i: Busy without a sentence saying why: $(cat "$work/race-$host-$i.out");" ;;
                *) other+=" race-$host-$i: exit $status: $(cat "$work/race-$host-$i.out");" ;;
                esac
        done
done
if [ -n "$other" ]; then
        not_ok "changes through both hosts at once are serialized" "$other"
elif ! why=$(agree a b) || ! after=$(ids a | wc -l); then
        not_ok "changes through both hosts at once are serialized" "$why"
elif [ "$after" != $((before + made)) ] || [ "$made" = 0 ]; then
        not_ok "changes through both hosts at once are serialized" "$made made, $busy busy, the tree went from $before to $after"
else
        ok "changes through both hosts at once are serialized: of 8 creates at once, $made made and $busy refused Busy; both trees and the image agree"
fi

# 3: a vmsnapd killed while it holds the lease: the other host is refused Busy naming it
# until the lease ran out, then its change goes through. The kill comes at a moment
# within one clean create through host a, so that some kills land in the middle of one;
# whatever the moment, the other host's change must leave the trees and the cluster
# agreeing, with nothing half made left. After a kill in the middle, that change takes
# about 30 s: the dead vmsnapd had the image open, and librbd takes over its lock on the
# image only once the OSD has timed out its watch (osd_client_watch_timeout, 30 s).
start=$(date +%s%N)
ctl a create shared-vm timing >/dev/null 2>&1 || bail "a clean create through host a failed"
clean_ms=$((($(date +%s%N) - start) / 1000000))
trials=0 mid=0 refused_busy=0 problems=""
while [ "$trials" -lt 10 ] && [ "$mid" -lt 1 ]; do
        trials=$((trials + 1))
        ctl a create shared-vm "killed-$trials" >/dev/null 2>&1 &
        client=$!
        sleep "$(awk -v ms="$clean_ms" -v r="$RANDOM" 'BEGIN { printf "%.3f", ms * (r / 32768.0) / 1000 }')"
        kill -9 "${daemon_pid[a]}"
        wait "${daemon_pid[a]}" 2>/dev/null
        wait "$client" 2>/dev/null
        intent=$(cluster_intent)
        if [ "$intent" != null ]; then
                mid=$((mid + 1))
                # Host a holds the lease still: host b must wait for it.
                if out=$(ctl b create shared-vm "early-$trials" 2>&1); then
                        problems+=" trial $trials: host b changed the tree while host a's lease held;"
                elif [[ $out == *"vmsnap ${daemon_pid[a]}"* ]]; then
                        refused_busy=$((refused_busy + 1))
                else
                        problems+=" trial $trials: host b was refused without naming host a: $out;"
                fi
        fi
        sleep $((lease + 1))
        if ! out=$(ctl b create shared-vm "after-$trials" 2>&1); then
                problems+=" trial $trials: host b's change after the lease failed: $out;"
        elif [ "$(cluster_intent)" != null ]; then
                problems+=" trial $trials: an intent is left in the cluster: $(cluster_intent);"
        fi
        start_host a
        why=$(agree a b) || problems+=" trial $trials: $why;"
done
if [ -n "$problems" ]; then
        not_ok "a vmsnapd killed mid-change is recovered from by the other host after its lease" "$problems"
elif [ "$mid" = 0 ]; then
        not_ok "a vmsnapd killed mid-change is recovered from by the other host after its lease" \
                "none of $trials kills within ${clean_ms} ms came while host a's change was under way"
else
        ok "a vmsnapd killed mid-change is recovered from by the other host after its lease: $trials kills, $mid in the middle of a create (refused Busy naming the dead holder $refused_busy times within the lease), trees and image agree after each"
fi

# 4: the killed host, started again, reads the tree its successor left.
if why=$(agree a b) && [ "$(ids a | wc -l)" -ge 2 ]; then
        ok "the killed host, started again, sees the tree the other host left ($(ids a | wc -l) snapshots)"
else
        not_ok "the killed host, started again, sees the tree the other host left" "${why:-too few snapshots}"
fi
exit $((failed > 0))
