# SPDX-License-Identifier: LGPL-2.1-or-later
# libvirtd.sh: sourced by the tests and benchmarks that need a real libvirtd
# (qemu:///system). The one place that knows how to start virtlogd and libvirtd on a
# machine without systemd, how runs take turns on them, and how they are stopped.
# The caller is root and has a work directory for the logs and pid files.

# One real libvirtd at a time: test runs of several build trees (and the benchmarks)
# take turns instead of stopping each other's daemon. The lock is fd 9; the daemons
# started below do not inherit it, so a run killed by a timeout leaves no daemon
# holding it for ever.
libvirtd_lock() {
        exec 9>/run/lock/vmsnap-libvirtd.lock
        flock 9
}

libvirtd_running() {
        virsh -c qemu:///system version >/dev/null 2>&1
}

# Without udev /dev/kvm stays root's with mode 0600. libvirt's capability probe of
# QEMU may open it anyway, but libvirt judges KVM unusable for the user QEMU runs as,
# so it discards its capability cache and probes again (30 s and more) on every
# define. Debian's udev rule gives the device to group kvm (QEMU's user is in it)
# with mode 0660; this does the same, and libvirtd_stop puts the old mode back.
libvirtd_kvm_mode=
libvirtd_kvm_device() {
        [ -c /dev/kvm ] || return 0
        setpriv --reuid=libvirt-qemu --regid=kvm --init-groups test -w /dev/kvm 2>/dev/null && return 0
        getent group kvm >/dev/null || return 0
        libvirtd_kvm_mode=$(stat -c '%a %g' /dev/kvm)
        chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
}

# libvirtd_start WORK: starts virtlogd (unless one runs) and libvirtd, logging to
# WORK/libvirtd.log, and waits until libvirtd answers. Extra lines for libvirtd.conf
# may be given in LIBVIRTD_CONF. Fails when a daemon does not start or answer in 60 s.
libvirtd_started=()
libvirtd_start() {
        local work=$1
        libvirtd_kvm_device
        if [ ! -S /run/libvirt/virtlogd-sock ]; then
                virtlogd -d --pid-file "$work/virtlogd.pid" 9>&- || return 1
                libvirtd_started+=("$work/virtlogd.pid")
        fi
        printf 'log_outputs="3:file:%s/libvirtd.log"\n%s\n' "$work" "${LIBVIRTD_CONF:-}" >"$work/libvirtd.conf"
        libvirtd_started+=("$work/libvirtd.pid")
        libvirtd_spawn "$work"
}

# libvirtd_spawn WORK: libvirtd alone, answering within 60 s, or a failure.
libvirtd_spawn() {
        libvirtd -d -f "$1/libvirtd.conf" --pid-file "$1/libvirtd.pid" 9>&- || return 1
        for _ in $(seq 600); do
                libvirtd_running && return 0
                sleep 0.1
        done
        return 1
}

# libvirtd_restart WORK: stops only libvirtd (an upgrade) and starts it again.
libvirtd_restart() {
        local work=$1 pid
        pid=$(cat "$work/libvirtd.pid")
        kill "$pid"
        for _ in $(seq 100); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
        done
        libvirtd_spawn "$work"
}

# libvirtd_stop: stops what libvirtd_start started and waits for their sockets to go.
libvirtd_stop() {
        local pidfile
        for pidfile in "${libvirtd_started[@]}"; do
                [ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
        done
        if [ ${#libvirtd_started[@]} -gt 0 ]; then
                for _ in $(seq 100); do
                        [ -e /run/libvirt/libvirt-sock ] || [ -e /run/libvirt/virtlogd-sock ] || break
                        sleep 0.1
                done
        fi
        libvirtd_started=()
        if [ -n "$libvirtd_kvm_mode" ]; then
                chgrp "${libvirtd_kvm_mode#* }" /dev/kvm && chmod "${libvirtd_kvm_mode% *}" /dev/kvm
                libvirtd_kvm_mode=
        fi
        return 0
}
