#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""private-dbus-broker.py SOCKET CONFIG: runs dbus-broker (the bus daemon of Fedora,
Arch and others; Debian 12 packages it) as a private bus listening on SOCKET, with
the bus configuration CONFIG, on a machine that does not run systemd: bench-bus.sh
measures vmsnapd through it beside dbus-daemon. Runs until SIGTERM or SIGINT.

dbus-broker-launch expects systemd around it: the listening socket passed in
(systemd-socket-activate does that), journald's socket for its log, and a system
bus to ask systemd for activations. Here, in a mount namespace of its own, a tmpfs
on /run/systemd holds a journal socket this script drains, and the "system bus" it
connects to is the private bus itself (activation is never used by the benchmark).
Needs root (the mount namespace)."""
import os
import signal
import socket
import subprocess
import sys
import threading


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: private-dbus-broker.py SOCKET CONFIG")
    path, config = sys.argv[1], sys.argv[2]
    if "VMSNAP_BROKER_NAMESPACE" not in os.environ:
        # Again, inside a mount namespace of our own: nothing leaks into the host's /run.
        os.environ["VMSNAP_BROKER_NAMESPACE"] = "1"
        os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", sys.executable] + sys.argv)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run/systemd"], check=True)
    os.mkdir("/run/systemd/journal")
    journal = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    journal.bind("/run/systemd/journal/socket")
    threading.Thread(target=lambda: [journal.recv(1 << 16) for _ in iter(int, 1)], daemon=True).start()

    environment = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=f"unix:path={path}")
    broker = subprocess.Popen(["systemd-socket-activate", "-E", "DBUS_SYSTEM_BUS_ADDRESS", "-l", path,
                               "dbus-broker-launch", "--scope", "system", "--config-file", config],
                              env=environment, stderr=subprocess.DEVNULL)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: broker.terminate())
    sys.exit(broker.wait())


main()
