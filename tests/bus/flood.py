# SPDX-License-Identifier: LGPL-2.1-or-later
"""flood.py ADDRESS CONNECTIONS IN_FLIGHT SECONDS [TOTAL]: a caller that floods
org.example.Snapshots: on each of CONNECTIONS connections it keeps IN_FLIGHT
ListSnapshots("alpha") calls waiting for their answers, for SECONDS, or until it
has sent TOTAL calls per connection (0: no limit); then it waits for the answers
still due. Run as a test user (setpriv) by the bus tests and bench/bench-flood.sh.
Prints {"sent": N, "answers": {"ok" or error name: count}, "busy_message": TEXT} as JSON."""
import json
import sys
import time

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402


def main():
    address = sys.argv[1]
    connections, in_flight, seconds = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    total = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    loop = GLib.MainLoop()
    answers = {}
    state = {"sent": 0, "due": 0, "busy_message": ""}
    deadline = time.monotonic() + seconds
    sent_on = {}

    def on_reply(connection, result, _):
        state["due"] -= 1
        try:
            connection.call_finish(result)
            name = "ok"
        except GLib.Error as error:
            name = Gio.DBusError.get_remote_error(error) or error.domain
            if name.endswith(".Busy") and not state["busy_message"]:
                state["busy_message"] = error.message
        answers[name] = answers.get(name, 0) + 1
        send(connection)
        if state["due"] == 0:
            loop.quit()

    def send(connection):
        if time.monotonic() >= deadline or (total and sent_on[connection] >= total):
            return
        sent_on[connection] += 1
        state["sent"] += 1
        state["due"] += 1
        connection.call("org.example.Snapshots", "/org/example/Snapshots", "org.example.Snapshots",
                        "ListSnapshots", GLib.Variant("(s)", ("alpha",)), None, Gio.DBusCallFlags.NONE, 60000,
                        None, on_reply, None)

    for _ in range(connections):
        connection = Gio.DBusConnection.new_for_address_sync(
            address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
            None,
            None,
        )
        sent_on[connection] = 0
        for _ in range(in_flight):
            send(connection)
    if state["due"]:
        loop.run()
    print(json.dumps({"sent": state["sent"], "answers": answers, "busy_message": state["busy_message"]}))


if __name__ == "__main__":
    main()
