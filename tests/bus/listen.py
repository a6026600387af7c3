# SPDX-License-Identifier: LGPL-2.1-or-later
"""listen.py ADDRESS MODE: records every signal of org.example.Snapshots that reaches
this connection, made by whoever runs this (test-bus-trust runs it as a test user
through setpriv). MODE "passive" only listens; "read" also reads each job announced
by JobNew (GetAll), which makes this connection one of the job's audience. Prints
"ready" once subscribed; when its standard input closes it prints the events as
JSON: [path, interface, member] per signal and [path, "read", State or error name]
per read."""
import json
import sys

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

PREFIX = "/org/example/Snapshots"
JOB_IFACE = "org.example.Snapshots.Job"


def main():
    address, mode = sys.argv[1:3]
    connection = Gio.DBusConnection.new_for_address_sync(
        address,
        Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
        None,
        None,
    )
    events = []
    loop = GLib.MainLoop()

    def on_signal(_connection, _sender, path, interface, member, parameters):
        if not path.startswith(PREFIX):
            return
        events.append([path, interface, member])
        if mode == "read" and member == "JobNew":
            job = parameters.unpack()[1]
            try:
                reply = connection.call_sync("org.example.Snapshots", job, "org.freedesktop.DBus.Properties",
                                             "GetAll", GLib.Variant("(s)", (JOB_IFACE,)), None,
                                             Gio.DBusCallFlags.NONE, 10000, None)
                events.append([job, "read", reply.unpack()[0]["State"]])
            except GLib.Error as error:
                events.append([job, "read", Gio.DBusError.get_remote_error(error) or error.message])

    # No sender: a job's own signals come unicast from vmsnapd's unique name.
    connection.signal_subscribe(None, None, None, None, None, Gio.DBusSignalFlags.NONE, on_signal)
    GLib.io_add_watch(GLib.IOChannel.unix_new(0), GLib.PRIORITY_DEFAULT, GLib.IO_IN | GLib.IO_HUP,
                      lambda *_: loop.quit() or False)
    # A round trip, so the match rule is in place before the test goes on.
    connection.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetId", None,
                         None, Gio.DBusCallFlags.NONE, 10000, None)
    print("ready", flush=True)
    loop.run()
    print(json.dumps(events))


main()
