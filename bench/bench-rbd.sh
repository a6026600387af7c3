#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench-rbd.sh: vmsnap's operations on domains whose disk is an RBD image, timed through
# the engine (bench/rbd-bench: one engine for the whole run, as vmsnapd holds it), side by
# side in one run on one single-node Ceph cluster (tests/ceph.sh) and a real libvirtd
# (tests/libvirtd.sh), against what a person would otherwise run:
#   snapshot    a running TCG guest (tests/live-guest.sh: it writes its disk every
#               second) whose vda is an RBD image: vmsnap_snapshot_create against
#               `rbd snap create` (a whole process, connecting included), the engine's
#               RBD layer alone (connect + vmsnap_rbd_snapshot_create: the floor under
#               vmsnap), and the nearest a virsh user gets: libvirt 9.0 makes no snapshot
#               of an RBD disk itself (the script prints what it answers), so `virsh
#               suspend`, `rbd snap create`, `virsh resume`. Last, once, what libvirt
#               does when given a file for the disk: a qcow2 overlay on local storage over
#               the RBD image (the guest's writes leave Ceph), timed and shown.
#   linked      vmsnap_snapshot_clone with linked of a shut-off domain from its snapshot,
#               the image SIZE MiB and LARGE MiB, and the ratio of the two.
#   standalone  vmsnap_snapshot_clone (a v2 clone, then flatten with byte progress)
#               against `rbd export SNAP - | rbd import -` and `qemu-img convert`
#               between rbd: URLs.
# Every clone and copy goes into a second pool. Each side's first copy is compared with
# the snapshot (qemu-img compare on rbd: URLs, untimed). The sides of each part alternate
# in a rotating order over N rounds; medians and ratios are printed (ratio: vmsnap's time
# / the other's; below 1 vmsnap is faster).
#
# The SIZE MiB image has three 4 MiB objects in four written (the standalone copies move
# that much); the LARGE one has one 4 MiB object written per GiB (RBD is thin). The OSD's
# sparse store is made large enough for SIZE (VMSNAP_CEPH_OSD_BYTES overrides it).
#
# usage (root): bench-rbd.sh [--size MIB] [--large-size MIB] [--rounds N]
#                            [--parts snapshot,linked,standalone] [--build BUILD_DIR]
# BENCH_WRAPPER="strace -f -tt -o FILE" runs the engine's process under it (a profile).
# Exits 77 with the reason when Ceph or libvirtd cannot run here.
set -euo pipefail

source_root=$(cd "$(dirname "$0")/.." && pwd)
build=${VMSNAP_BUILD_ROOT:-$source_root/build}
size=1024
large=16384
rounds=5
parts=snapshot,linked,standalone
usage="usage: $0 [--size MIB] [--large-size MIB] [--rounds N] [--parts snapshot,linked,standalone] [--build BUILD_DIR]"
while [ $# -gt 0 ]; do
        case $1 in
        --size) size=$2; shift 2 ;;
        --large-size) large=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --parts) parts=$2; shift 2 ;;
        --build) build=$2; shift 2 ;;
        *) echo "$usage" >&2; exit 2 ;;
        esac
done
[[ $size =~ ^[0-9]+$ && $size -ge 16 ]] || { echo "--size is a number of MiB, at least 16" >&2; exit 2; }
[[ $large =~ ^[0-9]+$ && $large -ge 1024 ]] || { echo "--large-size is a number of MiB, at least 1024" >&2; exit 2; }
[[ $rounds =~ ^[0-9]+$ && $rounds -ge 1 ]] || { echo "--rounds is a positive number" >&2; exit 2; }
want() { [[ ,$parts, == *,$1,* ]]; }

. "$source_root/tests/ceph.sh"
. "$source_root/tests/libvirtd.sh"
ceph_unavailable && { echo "bench-rbd: cannot run: $ceph_reason" >&2; exit 77; }
for tool in libvirtd virtlogd virsh qemu-system-x86_64 qemu-img; do
        command -v "$tool" >/dev/null || { echo "bench-rbd: cannot run: $tool is not installed" >&2; exit 77; }
done
ninja -C "$build" bench/rbd-bench >/dev/null ||
        { echo "bench-rbd: cannot run: $build builds no bench/rbd-bench (a build without the RBD layer, -Drbd)" >&2; exit 77; }
bench=$build/bench/rbd-bench

work=$(mktemp -d /var/tmp/vmsnap-bench-rbd-XXXXXX)
chmod 755 "$work"
domains=()
engine_pid=
cleanup() {
        set +e
        if [ -n "$engine_pid" ]; then
                # The coprocess's own pipe stays open in this shell: end it by its pid.
                exec {engine_in}>&- {engine_out}<&-
                kill "$engine_pid" 2>/dev/null
                wait "$engine_pid" 2>/dev/null
        fi
        for d in "${domains[@]}"; do
                virsh -q -c qemu:///system destroy "$d" >/dev/null 2>&1
                virsh -q -c qemu:///system undefine "$d" >/dev/null 2>&1
        done
        libvirtd_stop
        ceph_stop
        rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# The OSD's sparse store: the source and two copies of what it holds, and room to spare.
osd_bytes=$(((size * 3 + 3072) * 1048576))
((osd_bytes > 4294967296)) || osd_bytes=4294967296
export VMSNAP_CEPH_OSD_BYTES=${VMSNAP_CEPH_OSD_BYTES:-$osd_bytes}
ceph_start || { echo "bench-rbd: cannot run: the cluster did not start: $ceph_reason" >&2; exit 77; }
# Every client (QEMU, the engine, each rbd command) an admin socket of its own.
# shellcheck disable=SC2016 # $name and $pid are Ceph's, expanded per client
printf '[client]\nadmin_socket = %s/run/$name.$pid.asok\n' "$CEPH_DIR" >>"$CEPH_CONF"
other_pool=bench-other
ceph_pool_create "$other_pool" || { echo "bench-rbd: the pool $other_pool did not become ready" >&2; exit 1; }
pool=$CEPH_POOL

libvirtd_lock
if ! libvirtd_running; then
        libvirtd_start "$work" ||
                { echo "bench-rbd: cannot run: libvirtd did not start: $(tail -n 2 "$work/libvirtd.log" 2>/dev/null | tr '\n' ' ')" >&2; exit 77; }
fi

v() { virsh -q -c qemu:///system "$@"; }
r() { rbd -c "$CEPH_CONF" "$@"; }
url() { echo "rbd:$1:conf=$CEPH_CONF"; }
now() { date +%s%N; }
ms_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f\n", (b - a) / 1e6 }'; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# domain NAME POOL/IMAGE [KERNEL INITRD]: defines the domain, vda the image.
mon_host=${CEPH_MON_HOST%:*}
mon_port=${CEPH_MON_HOST##*:}
domain() {
        local boot=''
        [ $# -gt 2 ] && boot="<kernel>$3</kernel><initrd>$4</initrd><cmdline>console=ttyS0 quiet</cmdline>"
        cat >"$work/$1.xml" <<XML
<domain type='qemu'><name>$1</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type>$boot</os><features><acpi/></features><devices>
<disk type='network' device='disk'><driver name='qemu' type='raw'/>
<source protocol='rbd' name='$2'><host name='$mon_host' port='$mon_port'/><config file='$CEPH_CONF'/></source>
<target dev='vda' bus='virtio'/></disk>
<serial type='file'><source path='$work/$1.console'/></serial><console type='file'><source path='$work/$1.console'/></console>
<video><model type='none'/></video><memballoon model='none'/></devices>
<seclabel type='static' model='dac' relabel='no'><label>+0:+0</label></seclabel></domain>
XML
        v define "$work/$1.xml" >/dev/null
        domains+=("$1")
}

# The engine, answering one request a line. Its pipes are copied to fds of our own:
# bash keeps a coprocess's own fds from the subshells that $(request ...) runs in.
# shellcheck disable=SC2086 # BENCH_WRAPPER is words: "strace -f -tt -o FILE"
coproc engine { ${BENCH_WRAPPER:-} "$bench" qemu:///system "$work/state" 2>"$work/engine.log"; }
engine_pid=$engine_PID
exec {engine_in}>&"${engine[1]}" {engine_out}<&"${engine[0]}"
# request WORDS...: sends a request; prints the answer's words after "ms" (fails on "error").
request() {
        local answer
        echo "$*" >&"$engine_in"
        read -r answer <&"$engine_out" ||
                { echo "bench-rbd: rbd-bench ended: $(tail -n 3 "$work/engine.log")" >&2; exit 1; }
        [[ $answer == ms* ]] || { echo "bench-rbd: $1: $answer" >&2; exit 1; }
        echo "${answer#ms }"
}
# The RBD snapshot of vmsnap's newest snapshot of an image.
vmsnap_snapshot_of() {
        r snap ls "$1" | awk '$2 ~ /^vmsnap-/ { s = $2 } END { print s }'
}
# clean_domain NAME: undefines a clone and removes its image.
clean_domain() {
        v undefine "$1" >/dev/null 2>&1 || true
        r rm --no-progress "$other_pool/$1-vda" >/dev/null 2>&1 || true
}
declare -A times med

echo "# cluster in $CEPH_DIR; $rounds rounds; ratios are vmsnap's time / the other's (below 1: vmsnap faster)"

# ---- snapshot of a running guest ----
if want snapshot; then
        guest=
        if "$source_root/tests/live-guest.sh" "$work/guest" >/dev/null 2>"$work/guest.log"; then
                guest="$work/guest/vmlinuz $work/guest/initrd.gz"
        else
                echo "# no guest kernel ($(tail -n 1 "$work/guest.log")): the domain runs its firmware only, and nothing writes the disk"
        fi
        r create --size 256M "$pool/live"
        # shellcheck disable=SC2086 # two words: kernel and initrd
        domain rbd-bench-live "$pool/live" $guest
        v start rbd-bench-live >/dev/null
        if [ -n "$guest" ]; then
                for _ in $(seq 300); do grep -q 'tick 2' "$work/rbd-bench-live.console" 2>/dev/null && break; sleep 0.1; done
                grep -q 'tick 2' "$work/rbd-bench-live.console" || { echo "bench-rbd: the guest did not start ticking" >&2; exit 1; }
        fi
        # What libvirt does with the RBD disk, as a person would try it.
        echo "# virsh snapshot-create-as --disk-only (external, the default):"
        v snapshot-create-as rbd-bench-live --disk-only --atomic --no-metadata 2>&1 | sed 's/^/#   /' || true
        echo "# virsh snapshot-create-as --disk-only --diskspec vda,snapshot=internal:"
        v snapshot-create-as rbd-bench-live --disk-only --atomic --no-metadata --diskspec vda,snapshot=internal 2>&1 | sed 's/^/#   /' || true
        echo "# virsh snapshot-create-as --disk-only --diskspec vda,snapshot=manual (libvirt pauses, you snapshot):"
        v snapshot-create-as rbd-bench-live --disk-only --atomic --no-metadata --diskspec vda,snapshot=manual 2>&1 | sed 's/^/#   /' || true
        echo "# virsh snapshot-create-as (internal, with the memory state):"
        v snapshot-create-as rbd-bench-live --atomic --no-metadata 2>&1 | sed 's/^/#   /' || true
        r snap purge --no-progress "$pool/live" >/dev/null 2>&1 || true
        v domblklist rbd-bench-live | grep -q "^ *vda *$pool/live *\$" ||
                { echo "bench-rbd: virsh moved vda off the RBD image: $(v domblklist rbd-bench-live | tr -s ' \n' ' ')" >&2; exit 1; }

        sides=(vmsnap rbd-layer rbd-cli virsh-suspend)
        for ((round = 0; round < rounds; round++)); do
                for ((k = 0; k < ${#sides[@]}; k++)); do
                        name=${sides[(k + round) % ${#sides[@]}]}
                        case $name in
                        vmsnap)
                                t=$(request snapshot rbd-bench-live | awk '{ print $1 }')
                                [ -n "$(vmsnap_snapshot_of "$pool/live")" ] || { echo "bench-rbd: vmsnap's snapshot is not in the image" >&2; exit 1; }
                                ;;
                        rbd-layer)
                                t=$(request layer-snapshot "$CEPH_CONF" "$pool" live "bench-layer-$round")
                                r snap rm --no-progress "$pool/live@vmsnap-bench-layer-$round" >/dev/null
                                ;;
                        rbd-cli)
                                start=$(now)
                                r snap create --no-progress "$pool/live@bare-$round" >/dev/null
                                t=$(ms_since "$start")
                                r snap rm --no-progress "$pool/live@bare-$round" >/dev/null
                                ;;
                        virsh-suspend)
                                start=$(now)
                                v suspend rbd-bench-live >/dev/null
                                r snap create --no-progress "$pool/live@suspended-$round" >/dev/null
                                v resume rbd-bench-live >/dev/null
                                t=$(ms_since "$start")
                                r snap rm --no-progress "$pool/live@suspended-$round" >/dev/null
                                ;;
                        esac
                        times[$name]+="$t "
                        printf '# snapshot round %d %-13s %8.1f ms\n' $((round + 1)) "$name" "$t"
                        sleep 0.5
                done
        done
        [ "$(v domstate rbd-bench-live)" = running ] || { echo "bench-rbd: the guest does not run after the snapshots" >&2; exit 1; }
        start=$(now)
        if out=$(v snapshot-create-as rbd-bench-live --disk-only --atomic --no-metadata \
                --diskspec "vda,file=$work/overlay.qcow2" 2>&1); then
                t=$(ms_since "$start")
                echo "# virsh snapshot-create-as --disk-only --diskspec vda,file=FILE.qcow2 took $t ms; vda is now: $(v domblklist rbd-bench-live | awk '$1 == "vda" { print $2 }'),"
                echo "#   $(qemu-img info -U "$work/overlay.qcow2" | grep -E '^backing file:' | cut -c1-160)"
        else
                echo "# virsh snapshot-create-as --disk-only --diskspec vda,file=FILE.qcow2: $out"
        fi
        sleep 1
        echo "#   the domain is $(v domstate rbd-bench-live) a second later; its console ends: $(tail -n 1 "$work/rbd-bench-live.console" | tr -d '\r')"
        v destroy rbd-bench-live >/dev/null 2>&1 || true
        for name in "${sides[@]}"; do med[$name]=$(echo "${times[$name]}" | median); done
fi

# ---- clones ----
if want linked || want standalone; then
        r create --size "${size}M" "$pool/small"
        for ((i = 0; i < size / 4; i++)); do
                ((i % 4 == 3)) || printf 'write -P 0x%02x %dM 4M\n' $((0x20 + i % 200)) $((4 * i))
        done | qemu-io -f raw "$(url "$pool/small")" >/dev/null
        domain rbd-bench-small "$pool/small"
        request snapshot rbd-bench-small base >/dev/null
        small_snapshot=$pool/small@$(vmsnap_snapshot_of "$pool/small")
        echo "# $pool/small: $size MiB, $(r du "$small_snapshot" 2>/dev/null | awk 'NR == 2 { print $4, $5 }') used, snapshot $small_snapshot"
fi

if want linked; then
        r create --size "${large}M" "$pool/large"
        for ((i = 0; i < large / 1024; i++)); do printf 'write -P 0x%02x %dM 4M\n' $((0x40 + i % 100)) $((1024 * i)); done |
                qemu-io -f raw "$(url "$pool/large")" >/dev/null
        domain rbd-bench-large "$pool/large"
        request snapshot rbd-bench-large base >/dev/null
        large_snapshot=$pool/large@$(vmsnap_snapshot_of "$pool/large")
        echo "# $pool/large: $large MiB, $(r du "$large_snapshot" 2>/dev/null | awk 'NR == 2 { print $4, $5 }') used, snapshot $large_snapshot"
        declare -A source_snapshot=([linked-small]=$small_snapshot [linked-large]=$large_snapshot)
        # An untimed clone first: the engine's first clone loads what later ones reuse.
        request clone rbd-bench-small base bench-warm-up linked "$other_pool" >/dev/null
        clean_domain bench-warm-up
        sides=(linked-small linked-large)
        for ((round = 0; round < rounds; round++)); do
                for ((k = 0; k < ${#sides[@]}; k++)); do
                        name=${sides[(k + round) % ${#sides[@]}]}
                        clone=bench-$name-$round
                        sync
                        t=$(request clone "rbd-bench-${name#linked-}" base "$clone" linked "$other_pool" | awk '{ print $1 }')
                        if ((round == 0)); then
                                qemu-img compare -q -f raw -F raw "$(url "${source_snapshot[$name]}")" "$(url "$other_pool/$clone-vda")" ||
                                        { echo "bench-rbd: the $name clone does not read as the snapshot" >&2; exit 1; }
                        fi
                        clean_domain "$clone"
                        times[$name]+="$t "
                        printf '# linked round %d %-13s %8.1f ms\n' $((round + 1)) "$name" "$t"
                done
        done
        for name in "${sides[@]}"; do med[$name]=$(echo "${times[$name]}" | median); done
fi

if want standalone; then
        r export --no-progress "$small_snapshot" - >/dev/null # the source into the OSD's cache
        sides=(standalone export-import convert)
        for ((round = 0; round < rounds; round++)); do
                for ((k = 0; k < ${#sides[@]}; k++)); do
                        name=${sides[(k + round) % ${#sides[@]}]}
                        clone=bench-$name-$round
                        sync
                        sleep 1
                        case $name in
                        standalone)
                                answer=$(request clone rbd-bench-small base "$clone" standalone "$other_pool")
                                t=$(echo "$answer" | awk '{ print $1 }')
                                times[flatten]+="$(echo "$answer" | awk '{ print $5 }') "
                                ;;
                        export-import)
                                start=$(now)
                                # Two clients at once: each needs an admin socket of its own.
                                r --admin-socket "$CEPH_DIR/run/export.asok" export --no-progress "$small_snapshot" - |
                                        r import --no-progress - "$other_pool/$clone-vda"
                                t=$(ms_since "$start")
                                ;;
                        convert)
                                start=$(now)
                                qemu-img convert -f raw -O raw "$(url "$small_snapshot")" "$(url "$other_pool/$clone-vda")"
                                t=$(ms_since "$start")
                                ;;
                        esac
                        if ((round == 0)); then
                                qemu-img compare -q -f raw -F raw "$(url "$small_snapshot")" "$(url "$other_pool/$clone-vda")" ||
                                        { echo "bench-rbd: the $name copy does not read as the snapshot" >&2; exit 1; }
                                info=$(r info "$other_pool/$clone-vda")
                                [[ $name != standalone || $info != *parent:* ]] ||
                                        { echo "bench-rbd: the standalone clone still has a parent" >&2; exit 1; }
                        fi
                        clean_domain "$clone"
                        times[$name]+="$t "
                        printf '# standalone round %d %-13s %8.1f ms\n' $((round + 1)) "$name" "$t"
                done
        done
        for name in "${sides[@]}" flatten; do med[$name]=$(echo "${times[$name]}" | median); done
fi

echo
echo "medians of $rounds (ms)"
if want snapshot; then
        printf 'snapshot of a running guest on RBD: vmsnap %s, rbd snap create %s, RBD layer alone %s, virsh suspend+rbd snap create+resume %s\n' \
                "${med[vmsnap]}" "${med[rbd-cli]}" "${med[rbd-layer]}" "${med[virsh-suspend]}"
        printf '  vmsnap / rbd snap create %s (target 1.2 at most), / RBD layer %s, / virsh suspend+rbd+resume %s\n' \
                "$(ratio "${med[vmsnap]}" "${med[rbd-cli]}")" "$(ratio "${med[vmsnap]}" "${med[rbd-layer]}")" \
                "$(ratio "${med[vmsnap]}" "${med[virsh-suspend]}")"
fi
if want linked; then
        printf 'linked clone: %s MiB %s, %s MiB %s; large / small %s (target 1.5 at most)\n' \
                "$size" "${med[linked-small]}" "$large" "${med[linked-large]}" \
                "$(ratio "${med[linked-large]}" "${med[linked-small]}")"
fi
if want standalone; then
        printf 'standalone clone of %s MiB: vmsnap %s, rbd export|import %s, qemu-img convert %s\n' \
                "$size" "${med[standalone]}" "${med[export-import]}" "${med[convert]}"
        printf '  of vmsnap'"'"'s clone, the flatten (first to last progress report) %s\n' "${med[flatten]}"
        printf '  vmsnap / export|import %s (target 1.0 at most), / qemu-img convert %s\n' \
                "$(ratio "${med[standalone]}" "${med[export-import]}")" "$(ratio "${med[standalone]}" "${med[convert]}")"
fi
