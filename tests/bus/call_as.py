# SPDX-License-Identifier: LGPL-2.1-or-later
"""call_as.py ADDRESS PATH INTERFACE METHOD PARAMETERS INTERACTIVE: one call to
org.example.Snapshots, made by whoever runs this (bustest.call_as runs it as a
test user through setpriv). PARAMETERS is a GVariant tuple in text form, or
empty. Prints {"reply": TEXT} or {"error": NAME, "message": TEXT} as JSON."""
import json
import sys

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402


def main():
    address, path, interface, method, parameters, interactive = sys.argv[1:7]
    connection = Gio.DBusConnection.new_for_address_sync(
        address,
        Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
        None,
        None,
    )
    flags = Gio.DBusCallFlags.ALLOW_INTERACTIVE_AUTHORIZATION if interactive == "1" else Gio.DBusCallFlags.NONE
    arguments = GLib.Variant.parse(None, parameters, None, None) if parameters else None
    try:
        reply = connection.call_sync("org.example.Snapshots", path, interface, method, arguments, None, flags,
                                     60000, None)
    except GLib.Error as error:
        name = Gio.DBusError.get_remote_error(error) or error.domain
        message = error.message
        prefix = f"GDBus.Error:{name}: "
        if message.startswith(prefix):
            message = message[len(prefix):]
        print(json.dumps({"error": name, "message": message}))
        return
    print(json.dumps({"reply": reply.print_(True) if reply.n_children() else ""}))


main()
