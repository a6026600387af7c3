#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# with-libvirtd.sh PROGRAM [ARGS...]: runs a test program against a real libvirtd
# (qemu:///system). Starts virtlogd and libvirtd for the run when none is running and
# stops them afterwards; reports the test as skipped (TAP) where that is impossible.
set -u

skip() {
        echo "1..0 # SKIP $*"
        exit 0
}

[ "$(id -u)" = 0 ] || skip "starting libvirtd needs root"
command -v libvirtd >/dev/null || skip "libvirtd is not installed (apt-get install libvirt-daemon-system)"
command -v virtlogd >/dev/null || skip "virtlogd is not installed"

. "$(dirname "$0")/libvirtd.sh"
libvirtd_lock

work=$(mktemp -d /tmp/vmsnap-libvirtd-XXXXXX)
hook_installed=
cleanup() {
        libvirtd_stop
        [ -n "$hook_installed" ] && rm -f "$hook_installed"
        rm -rf "$work"
}
trap cleanup EXIT

if ! libvirtd_running; then
        # libvirtd finds hooks only when it starts: vmsnap's hook (tests/test-live.c) is
        # installed for the run unless one is there already.
        hook=/etc/libvirt/hooks/qemu.d/vmsnap
        if [ -n "${VMSNAP_SOURCE_ROOT:-}" ] && [ ! -e "$hook" ] && mkdir -p "${hook%/*}" &&
                install -m 0755 "$VMSNAP_SOURCE_ROOT/packaging/libvirt-hook/vmsnap" "$hook"; then
                hook_installed=$hook
        fi
        # Keepalives every 2 s, two missed at most: a client that promises answers and
        # gives none loses its connection within 6 s, and the idle test shows it. (Every
        # second was too tight for a loaded machine running the sanitizer build: a
        # connection whose answers were merely late was closed.)
        LIBVIRTD_CONF=$'keepalive_interval = 2\nkeepalive_count = 2'
        export VMSNAP_TEST_IDLE_SECONDS=8
        libvirtd_start "$work" || skip "libvirtd did not start or answer within 60 s: $(tail -n 2 "$work/libvirtd.log" 2>/dev/null | tr '\n' ' ')"
fi

VMSNAP_TEST_URI=qemu:///system "$(dirname "$0")/cmocka-tap.sh" "$@"
