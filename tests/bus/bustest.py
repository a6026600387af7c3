# SPDX-License-Identifier: LGPL-2.1-or-later
"""bustest.py: what every bus test program shares: TAP output, a client of
org.example.Snapshots over GLib's Gio (as root in this process, or as a test user
through setpriv and call_as.py), job waiting, and signal recording. The harness
(harness.sh) has started the bus, polkitd and vmsnapd and set the environment."""
import json
import os
import shutil
import subprocess
import sys
import time
import traceback

import gi

gi.require_version("Gio", "2.0")
gi.require_version("GLib", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

BUS_NAME = "org.example.Snapshots"
PATH = "/org/example/Snapshots"
IFACE = "org.example.Snapshots"
JOB_IFACE = "org.example.Snapshots.Job"
ERROR = "org.example.Snapshots.Error."

ADDRESS = os.environ["VMSNAP_BUS_ADDRESS"]
TEST_DIR = os.environ["VMSNAP_TEST_DIR"]
SOURCE_ROOT = os.environ["VMSNAP_SOURCE_ROOT"]
PYTHON = os.environ.get("VMSNAP_PYTHON", "/usr/bin/python3")
VMSNAPD_PID = int(os.environ["VMSNAPD_PID"])
HERE = os.path.dirname(os.path.abspath(__file__))

DOMAIN_UUIDS = {
    "alpha": "11111111-1111-4111-8111-111111111111",
    "beta": "22222222-2222-4222-8222-222222222222",
    "gamma": "33333333-3333-4333-8333-333333333333",
    "delta": "44444444-4444-4444-8444-444444444444",
}
TERMINAL_STATES = ("done", "failed", "canceled")


# ---- TAP ----

_count = 0
_failed = 0


def _emit(ok, name, diagnostics=""):
    global _count, _failed
    _count += 1
    if not ok:
        _failed += 1
    print(f"{'ok' if ok else 'not ok'} {_count} - {name}")
    for line in diagnostics.rstrip().splitlines():
        print(f"# {line}")
    sys.stdout.flush()


def case(name, stops_daemon=False):
    """Runs the decorated function at once as one TAP case named name. Afterwards vmsnapd
    must still run, unless the case stops it (the harness then checks how it exited)."""

    def run(function):
        try:
            function()
        except Exception:  # a failed assertion or anything unexpected fails the case
            _emit(False, name, traceback.format_exc())
        else:
            _emit(True, name)
        if not stops_daemon and not daemon_alive():
            _emit(False, "vmsnapd is still running after: " + name)
            sys.exit(1)
        return function

    return run


def skip(name, reason):
    global _count
    _count += 1
    print(f"ok {_count} - {name} # SKIP {reason}")
    sys.stdout.flush()


def daemon_alive():
    try:
        os.kill(VMSNAPD_PID, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{VMSNAPD_PID}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


def start_daemon(*args, uri=None, log_name="vmsnapd-again.log"):
    """Another vmsnapd on the test's bus and state directory (the harness's must have
    stopped), on the test's domains unless uri names another libvirt URI; returns its
    process once it owns the bus name (and kills it if it does not)."""
    with open(os.path.join(TEST_DIR, log_name), "a") as log:
        daemon = subprocess.Popen([os.environ["VMSNAPD"], "--connect", uri or f"test://{TEST_DIR}/node.xml",
                                   "--state-dir", os.path.join(TEST_DIR, "state"), "--bus-address", ADDRESS,
                                   *args], stderr=log)
    bus = connect()

    def owned():
        return bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                             "NameHasOwner", GLib.Variant("(s)", (BUS_NAME,)), None, Gio.DBusCallFlags.NONE,
                             5000, None).unpack()[0]

    try:
        deadline = time.monotonic() + 20
        while not owned():
            check(daemon.poll() is None, f"vmsnapd exited with status {daemon.returncode}")
            check(time.monotonic() < deadline, "vmsnapd did not own its name within 20 s")
            time.sleep(0.05)
    except BaseException:
        daemon.kill()
        daemon.wait()
        raise
    return daemon


def finish():
    sys.exit(1 if _failed else 0)


def check(condition, message="check failed"):
    if not condition:
        raise AssertionError(message)


def check_equal(actual, expected, what="value"):
    if actual != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}")


# ---- the client ----


class BusError(Exception):
    def __init__(self, name, message):
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


def connect():
    return Gio.DBusConnection.new_for_address_sync(
        ADDRESS,
        Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
        None,
        None,
    )


def variant_options(options):
    """{"memory": True, "format": "raw"} -> a{sv} with the obvious types; GLib.Variant values pass as they are."""
    result = {}
    for key, value in options.items():
        if isinstance(value, GLib.Variant):
            result[key] = value
        elif isinstance(value, bool):
            result[key] = GLib.Variant("b", value)
        elif isinstance(value, str):
            result[key] = GLib.Variant("s", value)
        elif isinstance(value, int):
            result[key] = GLib.Variant("i", value)
        else:
            raise TypeError(f"no variant type for option {key}")
    return result


class Client:
    def __init__(self, connection=None):
        self.connection = connection or connect()

    def call(self, method, signature="", args=(), path=PATH, interface=IFACE, timeout=60,
             interactive=False):
        parameters = GLib.Variant(f"({signature})", tuple(args)) if signature else None
        flags = Gio.DBusCallFlags.ALLOW_INTERACTIVE_AUTHORIZATION if interactive else Gio.DBusCallFlags.NONE
        try:
            reply = self.connection.call_sync(BUS_NAME, path, interface, method, parameters, None, flags,
                                              int(timeout * 1000), None)
        except GLib.Error as error:
            name = Gio.DBusError.get_remote_error(error) or error.domain
            message = error.message
            prefix = f"GDBus.Error:{name}: "
            if message.startswith(prefix):
                message = message[len(prefix):]
            raise BusError(name, message) from None
        return reply.unpack()

    # org.example.Snapshots
    def list_domains(self):
        return self.call("ListDomains")[0]

    def domain(self, name):
        return next(d for d in self.list_domains() if d["name"] == name)

    def list_snapshots(self, domain):
        return self.call("ListSnapshots", "s", (domain,))[0]

    def snapshot_names(self, domain):
        return sorted(s["name"] for s in self.list_snapshots(domain))

    def get_snapshot(self, domain, snapshot):
        return self.call("GetSnapshot", "ss", (domain, snapshot))[0]

    def get_configuration(self, domain, snapshot):
        return self.call("GetConfiguration", "ss", (domain, snapshot))

    def create(self, domain, name="", description="", disks=(), options=None):
        return self.call("Create", "sssasa{sv}",
                         (domain, name, description, list(disks), variant_options(options or {})))[0]

    def preview(self, domain, snapshot, disks=None, options=None):
        return self.call("Preview", "ssa{ss}a{sv}",
                         (domain, snapshot, disks or {}, variant_options(options or {})))[0]

    def commit(self, domain, options=None):
        return self.call("Commit", "sa{sv}", (domain, variant_options(options or {})))[0]

    def undo(self, domain, options=None):
        return self.call("Undo", "sa{sv}", (domain, variant_options(options or {})))[0]

    def revert(self, domain, snapshot, options=None):
        return self.call("Revert", "ssa{sv}", (domain, snapshot, variant_options(options or {})))[0]

    def delete(self, domain, snapshot, options=None):
        return self.call("Delete", "ssa{sv}", (domain, snapshot, variant_options(options or {})))[0]

    def delete_all(self, domain, options=None):
        return self.call("DeleteAll", "sa{sv}", (domain, variant_options(options or {})))[0]

    def purge(self, domain, options=None):
        return self.call("Purge", "sa{sv}", (domain, variant_options(options or {})))[0]

    def clone(self, domain, snapshot, new_name="", options=None):
        return self.call("Clone", "sssa{sv}", (domain, snapshot, new_name, variant_options(options or {})))[0]

    def rename(self, domain, snapshot, new_name):
        return self.call("Rename", "sss", (domain, snapshot, new_name))

    def set_description(self, domain, snapshot, text):
        return self.call("SetDescription", "sss", (domain, snapshot, text))

    def list_jobs(self):
        return self.call("ListJobs")[0]

    # jobs
    def job(self, path):
        return self.call("GetAll", "s", (JOB_IFACE,), path=path, interface="org.freedesktop.DBus.Properties")[0]

    def cancel(self, path):
        return self.call("Cancel", path=path, interface=JOB_IFACE)

    def wait_job(self, path, timeout=120):
        """Polls the job until it finished; returns its properties."""
        deadline = time.monotonic() + timeout
        while True:
            properties = self.job(path)
            if properties["State"] in TERMINAL_STATES:
                return properties
            if time.monotonic() > deadline:
                raise AssertionError(f"job {path} still {properties['State']} after {timeout} s")
            time.sleep(0.02)

    def run_job(self, path, timeout=120, expect="done"):
        properties = self.wait_job(path, timeout)
        if expect is not None and properties["State"] != expect:
            raise AssertionError(f"job {path} ended {properties['State']}, not {expect}: {properties['Error']}")
        return properties

    def introspect(self, path=PATH):
        return self.call("Introspect", path=path, interface="org.freedesktop.DBus.Introspectable")[0]


def expect_error(name, function, *args, **kwargs):
    """Calls function; it must fail with the named D-Bus error. Returns the message."""
    try:
        function(*args, **kwargs)
    except BusError as error:
        if error.name != name:
            raise AssertionError(f"expected {name}, got {error.name}: {error.message}")
        return error.message
    raise AssertionError(f"expected {name}, but the call succeeded")


# ---- signals ----


class SignalRecorder:
    """Records signals from vmsnapd (optionally of one interface, member, path)."""

    def __init__(self, connection, interface=None, member=None, path=None):
        self.connection = connection
        self.signals = []
        self.id = connection.signal_subscribe(BUS_NAME, interface, member, path, None,
                                              Gio.DBusSignalFlags.NONE, self._on_signal)

    def _on_signal(self, connection, sender, path, interface, member, parameters):
        self.signals.append((time.monotonic(), path, interface, member, parameters.unpack()))

    def of(self, member, path=None):
        return [s for s in self.signals if s[3] == member and (path is None or s[1] == path)]

    def close(self):
        self.connection.signal_unsubscribe(self.id)


def pump(seconds=0.0, until=None):
    """Dispatches pending signals for up to seconds, or until until() is true. Returns until()'s last value."""
    context = GLib.MainContext.default()
    deadline = time.monotonic() + seconds
    while True:
        while context.iteration(False):
            pass
        if until is not None and until():
            return True
        if time.monotonic() >= deadline:
            return until() if until is not None else None
        time.sleep(0.005)


# ---- calls as another user ----

_call_as_script = None


def call_as(user, method, signature="", args=(), path=PATH, interface=IFACE, interactive=False):
    """Runs one call as user (setpriv); returns the unpacked reply or raises BusError."""
    global _call_as_script
    if _call_as_script is None:
        _call_as_script = os.path.join(TEST_DIR, "call_as.py")
        shutil.copy(os.path.join(HERE, "call_as.py"), _call_as_script)
        os.chmod(_call_as_script, 0o644)
    parameters = GLib.Variant(f"({signature})", tuple(args)).print_(True) if signature else ""
    command = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", PYTHON, _call_as_script,
               ADDRESS, path, interface, method, parameters, "1" if interactive else "0"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd="/")
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        raise AssertionError(f"call_as.py as {user} failed: {done.stdout} {done.stderr}") from None
    if "error" in answer:
        raise BusError(answer["error"], answer["message"])
    return GLib.Variant.parse(None, answer["reply"], None, None).unpack() if answer["reply"] else ()


def disk_images():
    """Every file under the test's image directory (what a change may leave behind)."""
    found = set()
    for root, _, files in os.walk(os.path.join(TEST_DIR, "images")):
        for name in files:
            found.add(os.path.join(root, name))
    return found


def state_files():
    """The metadata vmsnapd keeps, file by file. Not the histories (<uuid>.history): a change
    that fails or is canceled changes no metadata but is recorded there."""
    found = {}
    for root, _, files in os.walk(os.path.join(TEST_DIR, "state")):
        for name in files:
            if name.endswith(".history"):
                continue
            with open(os.path.join(root, name), "rb") as f:
                found[os.path.join(root, name)] = f.read()
    return found


def make_undefined_domain(name, uuid):
    """A domain libvirt no longer defines, as vmsnap keeps it: an original image, two
    overlays vmsnap made (one frozen by a snapshot, one the last active disk) and the
    metadata document. The test driver's domains live in vmsnapd's own connection, so the
    domain is made undefined by giving vmsnap metadata for a UUID libvirt never had."""
    images = os.path.realpath(os.path.join(TEST_DIR, "images"))
    original, frozen, leaf = (os.path.join(images, f"{name}-{part}.qcow2") for part in ("disk", "s2", "leaf"))
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", original, "4M"], check=True)
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x33 0 64k", original], check=True,
                   capture_output=True)
    for top, below in ((frozen, original), (leaf, frozen)):
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", below, "-F", "qcow2", top], check=True)
    xml = f"<domain type='test'><name>{name}</name><uuid>{uuid}</uuid></domain>"

    def snapshot_record(snapshot_id, snapshot_name, parent, image):
        return {"id": snapshot_id, "name": snapshot_name, "description": "", "created": 1700000000,
                "parent": parent, "state": "shutoff", "config_xml": xml,
                "disks": [{"target": "vda", "image": image, "format": "qcow2", "excluded_reason": None}],
                "memory_file": None}
    s1, s2 = "aaaaaaaa-0000-4000-8000-000000000001", "aaaaaaaa-0000-4000-8000-000000000002"
    document = {"version": 1, "uuid": uuid, "name": name, "current": s2, "next_default_index": 1,
                "snapshots": [snapshot_record(s1, "s1", None, original), snapshot_record(s2, "s2", s1, frozen)],
                "owned": [frozen, leaf], "preview": None, "intent": None}
    path = os.path.join(TEST_DIR, "state", f"{uuid}.json")
    with open(path, "w") as f:
        json.dump(document, f)
    os.chmod(path, 0o600)
    return original, frozen, leaf, path
