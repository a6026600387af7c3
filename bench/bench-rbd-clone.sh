#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench-rbd-clone.sh: cloning a VM disk from a snapshot on Ceph RBD, four ways, side by
# side in the same run on one single-node cluster (tests/ceph.sh starts it for the run):
#   vmsnap linked      rbd-clone-bench: vmsnap_rbd_clone(), a v2 copy-on-write clone
#   vmsnap standalone  rbd-clone-bench: the clone, then vmsnap_rbd_image_flatten() with
#                      byte progress, as a standalone Clone job runs it
#   rbd export|import  rbd export POOL/IMAGE@SNAP - | rbd import - OTHER_POOL/TARGET
#   qemu-img convert   qemu-img convert -f raw -O raw rbd:POOL/IMAGE@SNAP rbd:OTHER_POOL/TARGET
# Every clone goes into a second pool (a clone's target pool may differ from its source).
# Each side is timed as a whole process, connecting to the cluster included, as a person
# would run it; rbd-clone-bench also prints its own connect/clone/flatten split.
#
# The source is a raw image of SIZE MiB (default 256) whose 4 MiB objects are written
# three in four (the fourth stays a hole), snapshotted as vmsnap's snapshot. Each side's
# first copy is compared with the snapshot (qemu-img compare on rbd: URLs, untimed). The
# sides alternate in a rotating order, N rounds (default 3), medians reported, after an
# untimed export that brings the source into the OSD's cache.
#
# The cluster's OSD keeps its data in a sparse file in /var/tmp (4 GiB by default, see
# tests/ceph.sh): --size up to about 1024 fits with the copies; for a bigger image give
# VMSNAP_CEPH_OSD_BYTES (e.g. 34359738368 for --size 8192) and have that much free.
#
# usage (root): bench-rbd-clone.sh [--size MIB] [--rounds N] [--build BUILD_DIR]
set -euo pipefail

source_root=$(cd "$(dirname "$0")/.." && pwd)
build=${VMSNAP_BUILD_ROOT:-$source_root/build}
size=256
rounds=3
while [ $# -gt 0 ]; do
        case $1 in
        --size) size=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --build) build=$2; shift 2 ;;
        *) echo "usage: $0 [--size MIB] [--rounds N] [--build BUILD_DIR]" >&2; exit 2 ;;
        esac
done
[[ $size =~ ^[0-9]+$ && $size -ge 16 ]] || { echo "--size is a number of MiB, at least 16" >&2; exit 2; }
[[ $rounds =~ ^[0-9]+$ && $rounds -ge 1 ]] || { echo "--rounds is a positive number" >&2; exit 2; }

. "$source_root/tests/ceph.sh"
if ceph_unavailable; then
        echo "bench-rbd-clone: cannot run: $ceph_reason" >&2
        exit 77
fi
ninja -C "$build" bench/rbd-clone-bench >/dev/null
bench=$build/bench/rbd-clone-bench

trap 'set +e; ceph_stop' EXIT
trap 'exit 143' TERM INT
ceph_start || { echo "bench-rbd-clone: the cluster did not start: $ceph_reason" >&2; exit 1; }
other_pool=bench-other
ceph_pool_create "$other_pool" || { echo "the pool $other_pool did not become ready" >&2; exit 1; }
pool=$CEPH_POOL
source=disk
snapshot_id=base
url() { echo "rbd:$1:conf=$CEPH_CONF"; }

echo "# cluster up in $CEPH_DIR; source image $size MiB, $rounds rounds"
rbd -c "$CEPH_CONF" create --size "${size}M" "$pool/$source"
objects=$((size / 4))
for ((i = 0; i < objects; i++)); do
        ((i % 4 == 3)) || printf 'write -P 0x%02x %dM 4M\n' $((0x20 + i % 200)) $((4 * i))
done | qemu-io -f raw "$(url "$pool/$source")" >/dev/null
written=$(rbd -c "$CEPH_CONF" du "$pool/$source" 2>/dev/null | awk -v i="$source" '$1 == i { print $4, $5 }')
rbd -c "$CEPH_CONF" snap create --no-progress "$pool/$source@vmsnap-$snapshot_id"
echo "# $pool/$source: ${size} MiB virtual, ${written:-?} used, snapshot vmsnap-$snapshot_id"
rbd -c "$CEPH_CONF" export --no-progress "$pool/$source@vmsnap-$snapshot_id" - >/dev/null

now() { date +%s.%N; }
remove_target() {
        rbd -c "$CEPH_CONF" rm --no-progress "$other_pool/$1" >/dev/null 2>&1 || true
}

# side NAME TARGET: runs one side into TARGET; prints its wall seconds.
side() {
        local name=$1 target=$2 start end
        start=$(now)
        case $name in
        linked | standalone)
                "$bench" "$CEPH_CONF" "$pool" "$source" "$snapshot_id" "$other_pool" "$target" "$name" \
                        >>"$CEPH_DIR/bench-split.txt"
                ;;
        export-import)
                # Two clients at once: each needs an admin socket of its own.
                rbd -c "$CEPH_CONF" --admin-socket "$CEPH_DIR/run/export.asok" export --no-progress \
                        "$pool/$source@vmsnap-$snapshot_id" - |
                        rbd -c "$CEPH_CONF" import --no-progress - "$other_pool/$target"
                ;;
        convert)
                qemu-img convert -f raw -O raw "$(url "$pool/$source@vmsnap-$snapshot_id")" \
                        "$(url "$other_pool/$target")"
                ;;
        esac
        end=$(now)
        awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f\n", b - a }'
}

sides=(linked standalone export-import convert)
declare -A times
for ((round = 0; round < rounds; round++)); do
        for ((k = 0; k < ${#sides[@]}; k++)); do
                name=${sides[(k + round) % ${#sides[@]}]}
                target=copy-$name
                remove_target "$target"
                sync
                sleep 1
                t=$(side "$name" "$target")
                times[$name]+="$t "
                if ((round == 0)); then
                        qemu-img compare -f raw -F raw "$(url "$pool/$source@vmsnap-$snapshot_id")" \
                                "$(url "$other_pool/$target")" >/dev/null ||
                                { echo "the $name copy does not read as the snapshot" >&2; exit 1; }
                fi
                printf '# round %d %-14s %8.3f s\n' $((round + 1)) "$name" "$t"
        done
done
for name in "${sides[@]}"; do remove_target "copy-$name"; done

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
declare -A med
for name in "${sides[@]}"; do med[$name]=$(echo "${times[$name]}" | median); done

echo
echo "clone of a ${size} MiB RBD disk (${written:-?} used) from a snapshot, into another pool; medians of $rounds"
printf '%-20s %9s\n' side seconds
for name in "${sides[@]}"; do printf '%-20s %9.3f\n' "$name" "${med[$name]}"; done
echo
ratio() { awk -v a="${med[$1]}" -v b="${med[$2]}" 'BEGIN { printf "%.3f\n", b / a }'; }
printf 'vmsnap standalone: %.2fx the speed of rbd export|import, %.2fx that of qemu-img convert\n' \
        "$(ratio standalone export-import)" "$(ratio standalone convert)"
printf 'vmsnap linked:     %.0fx the speed of rbd export|import, %.0fx that of qemu-img convert\n' \
        "$(ratio linked export-import)" "$(ratio linked convert)"
echo "(ratios above 1 mean vmsnap is faster)"
echo
echo "# rbd-clone-bench's own split (connect, clone, flatten in ms), every run:"
sed 's/^/#   /' "$CEPH_DIR/bench-split.txt"
