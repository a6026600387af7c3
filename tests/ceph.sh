# SPDX-License-Identifier: LGPL-2.1-or-later
# ceph.sh: sourced by the tests and benchmarks that need a real Ceph cluster. The one
# place that knows how to start a single-node cluster (one mon, one mgr, one OSD on a
# sparse BlueStore file) without systemd, on ports of its own in a directory of its own,
# and how it is stopped. The caller is root; the daemons are its children.
#
# The OSD's sparse block file is 4 GiB, or VMSNAP_CEPH_OSD_BYTES bytes (benchmarks of large
# images).
#
# ceph_start sets CEPH_DIR, CEPH_CONF, CEPH_MON_HOST and CEPH_POOL (an RBD pool for the
# tests); ceph_stop stops the daemons and removes CEPH_DIR. With VMSNAP_CEPH_AUTH=cephx
# the cluster requires cephx, as production clusters do: one keyring (CEPH_KEYRING, named
# in the configuration) holds every daemon's key and client.admin's, whose base64 key is
# CEPH_ADMIN_KEY (for a libvirt secret). Otherwise it runs with auth none. Call ceph_stop from an EXIT
# trap: it is safe to call twice and after a failed or partial start.

# ceph_unavailable: returns 0 with the reason in ceph_reason when no cluster can start
# here, or 1.
ceph_unavailable() {
        local tool avail
        [ "$(id -u)" = 0 ] || { ceph_reason="starting a Ceph cluster needs root"; return 0; }
        for tool in ceph-mon ceph-mgr ceph-osd ceph monmaptool rbd uuidgen flock; do
                command -v "$tool" >/dev/null || {
                        ceph_reason="$tool is not installed (apt-get install --no-install-recommends ceph-mon ceph-mgr ceph-osd ceph-common)"
                        return 0
                }
        done
        # The OSD's 4 GiB block file is sparse; the tests write some tens of MiB.
        avail=$(df -P -k /var/tmp | awk 'NR == 2 { print $4 }')
        [ "${avail:-0}" -ge 1048576 ] || { ceph_reason="less than 1 GiB is free in /var/tmp for the OSD's store"; return 0; }
        return 1
}

# ceph_claim_ports: takes a block of 100 ports on 127.0.0.1 that no other run holds
# (a lock per block, on fd 8, held until the shell exits) and nothing listens on. The
# mon gets the first two, the daemons bind in the rest. Sets ceph_port_base.
ceph_port_base=
ceph_claim_ports() {
        local base
        for base in $(seq 36700 100 39900); do
                exec 8>"/run/lock/vmsnap-ceph-$base.lock"
                if flock -n 8; then
                        if ! ss -Htln "sport >= :$base and sport <= :$((base + 99))" 2>/dev/null | grep -q .; then
                                ceph_port_base=$base
                                return 0
                        fi
                        flock -u 8
                fi
                exec 8>&-
        done
        return 1
}

# ceph_cli ARGS...: the ceph command against this cluster, never waiting long.
ceph_cli() {
        timeout 30 ceph -c "$CEPH_CONF" --connect-timeout 15 "$@"
}

ceph_pids=()
ceph_reason=
CEPH_DIR=
# ceph_start: starts the cluster and creates the pool; returns 1 with the reason in
# ceph_reason when something does not start within 60 s (the logs are in CEPH_DIR/log).
ceph_start() {
        local fsid osd_uuid osd_id mon_addr
        ceph_claim_ports || { ceph_reason="no free block of 100 ports in 36700-39999"; return 1; }
        CEPH_DIR=$(mktemp -d /var/tmp/vmsnap-ceph-XXXXXX) || { ceph_reason="cannot make a directory in /var/tmp"; return 1; }
        CEPH_CONF=$CEPH_DIR/ceph.conf
        CEPH_MON_HOST=127.0.0.1:$((ceph_port_base + 1))
        CEPH_POOL=vmsnap-test
        mon_addr="[v2:127.0.0.1:$ceph_port_base,v1:$CEPH_MON_HOST]"
        fsid=$(uuidgen)
        osd_uuid=$(uuidgen)
        mkdir -p "$CEPH_DIR"/{run,log,crash,mon,mgr/ceph-x,osd/ceph-0}
        # auth none: the cluster lives for one test run on the loopback (unless cephx is
        # asked for). The osd_op shard and bdev_aio_poll_ms settings bring a start from
        # ~13 s to ~4 s.
        local auth=none keyring_line="" mkfs_keyring=()
        CEPH_KEYRING= CEPH_ADMIN_KEY=
        if [ "${VMSNAP_CEPH_AUTH:-none}" = cephx ]; then
                auth=cephx
                CEPH_KEYRING=$CEPH_DIR/keyring
                keyring_line="keyring = $CEPH_KEYRING"
                mkfs_keyring=(--keyring "$CEPH_KEYRING")
                { ceph-authtool --create-keyring "$CEPH_KEYRING" --gen-key -n mon. --cap mon 'allow *' &&
                        ceph-authtool "$CEPH_KEYRING" --gen-key -n client.admin --cap mon 'allow *' \
                                --cap osd 'allow *' --cap mgr 'allow *' &&
                        ceph-authtool "$CEPH_KEYRING" --gen-key -n mgr.x --cap mon 'allow profile mgr' \
                                --cap osd 'allow *' &&
                        ceph-authtool "$CEPH_KEYRING" --gen-key -n osd.0 --cap mon 'allow profile osd' \
                                --cap mgr 'allow profile osd' --cap osd 'allow *'; } >/dev/null 2>>"$CEPH_DIR/log/stderr" ||
                        { ceph_reason="the cephx keyring could not be made: $(tail -n 1 "$CEPH_DIR/log/stderr")"; return 1; }
                CEPH_ADMIN_KEY=$(ceph-authtool "$CEPH_KEYRING" -n client.admin -p)
        fi
        cat >"$CEPH_CONF" <<CONF
[global]
fsid = $fsid
mon_host = $mon_addr
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_port_min = $((ceph_port_base + 10))
ms_bind_port_max = $((ceph_port_base + 99))
auth_cluster_required = $auth
auth_service_required = $auth
auth_client_required = $auth
$keyring_line
run_dir = $CEPH_DIR/run
admin_socket = $CEPH_DIR/run/\$name.asok
pid_file = $CEPH_DIR/run/\$name.pid
log_file = $CEPH_DIR/log/\$name.log
mon_cluster_log_file = $CEPH_DIR/log/cluster.log
crash_dir = $CEPH_DIR/crash
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_allow_pool_delete = true
mon_warn_on_pool_no_redundancy = false
osd_crush_chooseleaf_type = 0
osd_pool_default_pg_autoscale_mode = off
mon_data_avail_warn = 1
mon_data_avail_crit = 0
paxos_propose_interval = 0.05
bdev_aio_poll_ms = 10
osd_op_num_shards = 1
osd_op_num_threads_per_shard = 2
[client]
rbd_default_clone_format = 2
client_mount_timeout = 15
[mon]
mon_data = $CEPH_DIR/mon/\$cluster-\$id
[mgr]
mgr_data = $CEPH_DIR/mgr/\$cluster-\$id
[osd]
osd_data = $CEPH_DIR/osd/\$cluster-\$id
osd_objectstore = bluestore
bluestore_block_path = $CEPH_DIR/osd/\$cluster-\$id.block
bluestore_block_create = true
bluestore_block_size = ${VMSNAP_CEPH_OSD_BYTES:-4294967296}
bluestore_fsck_on_mount = false
osd_memory_target = 1073741824
CONF
        monmaptool --create --fsid "$fsid" --addv a "$mon_addr" "$CEPH_DIR/monmap" >/dev/null &&
                ceph-mon -c "$CEPH_CONF" --mkfs -i a --monmap "$CEPH_DIR/monmap" "${mkfs_keyring[@]}" \
                        2>>"$CEPH_DIR/log/stderr" ||
                { ceph_reason="the Ceph monitor's store could not be made: $(tail -n 1 "$CEPH_DIR/log/stderr")"; return 1; }
        # The daemons must not hold the port lock: a run killed by its timeout frees it.
        ceph-mon -f -c "$CEPH_CONF" -i a 2>>"$CEPH_DIR/log/stderr" 8>&- &
        ceph_pids+=($!)
        ceph_cli mon stat >/dev/null 2>>"$CEPH_DIR/log/stderr" ||
                { ceph_reason="the Ceph monitor did not answer: $(tail -n 1 "$CEPH_DIR/log/stderr")"; return 1; }
        ceph-mgr -f -c "$CEPH_CONF" -i x 2>>"$CEPH_DIR/log/stderr" 8>&- &
        ceph_pids+=($!)
        osd_id=$(ceph_cli osd new "$osd_uuid" 2>>"$CEPH_DIR/log/stderr") &&
                ceph-osd -c "$CEPH_CONF" -i "$osd_id" --mkfs --osd-uuid "$osd_uuid" >/dev/null 2>>"$CEPH_DIR/log/stderr" ||
                { ceph_reason="the Ceph OSD could not be made: $(tail -n 1 "$CEPH_DIR/log/stderr")"; return 1; }
        ceph-osd -f -c "$CEPH_CONF" -i "$osd_id" 2>>"$CEPH_DIR/log/stderr" 8>&- &
        ceph_pids+=($!)
        timeout 60 sh -c "until ceph -c '$CEPH_CONF' --connect-timeout 15 osd stat 2>/dev/null | grep -q '1 up.*1 in'; do sleep 0.2; done" ||
                { ceph_reason="the Ceph OSD did not come up within 60 s"; return 1; }
        # pool init returns once the placement groups are active: the readiness check.
        ceph_cli osd pool create "$CEPH_POOL" 8 8 >/dev/null 2>>"$CEPH_DIR/log/stderr" &&
                timeout 60 rbd -c "$CEPH_CONF" pool init "$CEPH_POOL" 2>>"$CEPH_DIR/log/stderr" ||
                { ceph_reason="the pool $CEPH_POOL could not be made ready: $(tail -n 1 "$CEPH_DIR/log/stderr")"; return 1; }
        return 0
}

# ceph_pool_create NAME: a second pool (clones across pools), ready when it returns.
ceph_pool_create() {
        ceph_cli osd pool create "$1" 8 8 >/dev/null 2>>"$CEPH_DIR/log/stderr" &&
                timeout 60 rbd -c "$CEPH_CONF" pool init "$1" 2>>"$CEPH_DIR/log/stderr"
}

# ceph_stop: stops the daemons (OSD first), waits for them, removes the directory. Safe
# under set -e (a daemon that is gone already is no failure).
ceph_stop() {
        local i pid
        for ((i = ${#ceph_pids[@]} - 1; i >= 0; i--)); do
                pid=${ceph_pids[i]}
                kill -TERM "$pid" 2>/dev/null || continue
                for _ in $(seq 100); do
                        kill -0 "$pid" 2>/dev/null || break
                        sleep 0.1
                done
                kill -KILL "$pid" 2>/dev/null || true
                wait "$pid" 2>/dev/null || true
        done
        ceph_pids=()
        [ -n "$CEPH_DIR" ] && [ -z "${VMSNAP_TEST_KEEP_CEPH:-}" ] && rm -rf "$CEPH_DIR"
        CEPH_DIR=
        exec 8>&-
        return 0
}
