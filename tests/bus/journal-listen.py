# SPDX-License-Identifier: LGPL-2.1-or-later
"""journal-listen.py SOCKET OUTPUT: a stand-in for journald's native socket. Binds a
datagram socket at SOCKET, parses each datagram of the native protocol (KEY=VALUE lines,
or KEY, a 64-bit little-endian length, the value and a newline for values holding a
newline) and appends it to OUTPUT as one JSON object {KEY: [values...]} (a field may
repeat). Exits when its parent (the process that became vmsnapd) is gone."""
import json
import os
import socket
import struct
import sys


def parse(data):
    fields = {}
    at = 0
    while at < len(data):
        end = data.index(b"\n", at)
        line = data[at:end]
        if b"=" in line:
            key, value = line.split(b"=", 1)
            at = end + 1
        else:
            key = line
            (length,) = struct.unpack_from("<Q", data, end + 1)
            value = data[end + 9:end + 9 + length]
            at = end + 9 + length + 1
        fields.setdefault(key.decode(), []).append(value.decode())
    return fields


def main():
    path, output = sys.argv[1:3]
    parent = os.getppid()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    os.chmod(path, 0o666)
    server.settimeout(0.2)
    with open(output, "a") as out:
        while True:
            try:
                data = server.recv(1 << 20)
            except socket.timeout:
                if os.getppid() != parent:
                    return
                continue
            out.write(json.dumps(parse(data)) + "\n")
            out.flush()


main()
