#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# with-ceph.sh PROGRAM [ARGS...]: runs a test program against a single-node Ceph cluster
# started for the run (tests/ceph.sh) and stopped afterwards, whatever the program does.
# The program finds it through VMSNAP_TEST_CEPH_CONF, VMSNAP_TEST_CEPH_MON_HOST,
# VMSNAP_TEST_CEPH_POOL and VMSNAP_TEST_CEPH_OTHER_POOL (a second pool), and with
# VMSNAP_CEPH_AUTH=cephx a cluster that requires cephx, client.admin's key in
# VMSNAP_TEST_CEPH_ADMIN_KEY (the configuration names the keyring). Where no cluster
# can start, prints the reason as a TAP skip (1..0 # SKIP) and exits 0: meson's TAP
# reader counts that as skipped, and an exit status of 77 as an error.
set -u

skip() {
        echo "1..0 # SKIP $*"
        exit 0
}

. "$(dirname "$0")/ceph.sh"
ceph_unavailable && skip "$ceph_reason"

trap ceph_stop EXIT
trap 'exit 143' TERM INT
ceph_start || skip "$ceph_reason"
other_pool=vmsnap-test-other
ceph_pool_create "$other_pool" || skip "the second pool $other_pool could not be made ready"

VMSNAP_TEST_CEPH_CONF=$CEPH_CONF VMSNAP_TEST_CEPH_MON_HOST=$CEPH_MON_HOST VMSNAP_TEST_CEPH_POOL=$CEPH_POOL \
        VMSNAP_TEST_CEPH_OTHER_POOL=$other_pool VMSNAP_TEST_CEPH_ADMIN_KEY=$CEPH_ADMIN_KEY \
        "$(dirname "$0")/cmocka-tap.sh" "$@" 8>&-
