# SPDX-License-Identifier: LGPL-2.1-or-later
"""Wrong calls get the right named error, with a sentence, and change nothing:
wrong signatures, unknown domains and snapshots, bad names, unknown and wrongly
typed options, impossible requests. After each case the harness's check that
vmsnapd still runs applies (bustest.case)."""
import os
import signal
import time

from bustest import (ERROR, JOB_IFACE, PATH, TEST_DIR, VMSNAPD_PID, BusError, Client, GLib, case, check,
                     check_equal, daemon_alive, disk_images, expect_error, finish, start_daemon, state_files)

client = Client()
INVALID_ARGUMENT = ERROR + "InvalidArgument"
NOT_FOUND = ERROR + "NotFound"
INVALID_ARGS = "org.freedesktop.DBus.Error.InvalidArgs"

client.run_job(client.create("alpha", "a1"))
client.run_job(client.create("alpha", "a2"))


def unchanged(function):
    """Runs function and checks that no image file and no metadata changed."""
    files, state = disk_images(), state_files()
    function()
    check_equal(disk_images(), files, "image files")
    check_equal(state_files(), state, "metadata")


def v(signature, value):
    return GLib.Variant(signature, value)


@case("A call with the wrong signature is refused with org.freedesktop.DBus.Error.InvalidArgs and changes nothing")
def _():
    def wrong_calls():
        for method, signature, args in (("ListSnapshots", "i", (1,)), ("ListSnapshots", "", ()),
                                        ("GetSnapshot", "s", ("alpha",)), ("Create", "sssas", ("alpha", "x", "", [])),
                                        ("Delete", "ssa{ss}", ("alpha", "a1", {})), ("Rename", "ssi", ("alpha", "a1", 3)),
                                        ("ListDomains", "s", ("extra",)), ("Commit", "s", ("alpha",)),
                                        ("Undo", "s", ("alpha",))):
            expect_error(INVALID_ARGS, client.call, method, signature, args)
    unchanged(wrong_calls)


@case("An unknown method is refused with org.freedesktop.DBus.Error.UnknownMethod")
def _():
    expect_error("org.freedesktop.DBus.Error.UnknownMethod", client.call, "Format", "s", ("alpha",))


@case("An unknown domain is NotFound, with a sentence naming it, for reads and changes alike")
def _():
    def calls():
        for function, args in ((client.list_snapshots, ("nowhere",)), (client.get_snapshot, ("nowhere", "a1")),
                               (client.get_configuration, ("nowhere", "a1")), (client.create, ("nowhere",)),
                               (client.commit, ("nowhere",)), (client.undo, ("nowhere",)),
                               (client.delete, ("nowhere", "a1")), (client.rename, ("nowhere", "a1", "b")),
                               (client.revert, ("nowhere", "a1")), (client.clone, ("nowhere", "a1")),
                               (client.purge, ("nowhere",)), (client.purge, ("nowhere", {"undefine": True}))):
            message = expect_error(NOT_FOUND, function, *args)
            check("nowhere" in message, f"{function.__name__}: {message}")
    unchanged(calls)


@case("An unknown snapshot is NotFound, with a sentence naming it, and no job is made")
def _():
    jobs = client.list_jobs()

    def calls():
        for function, args in ((client.get_snapshot, ("alpha", "nothing")),
                               (client.get_configuration, ("alpha", "nothing")),
                               (client.preview, ("alpha", "nothing")), (client.revert, ("alpha", "nothing")),
                               (client.delete, ("alpha", "nothing")), (client.rename, ("alpha", "nothing", "b")),
                               (client.set_description, ("alpha", "nothing", "b")),
                               (client.clone, ("alpha", "nothing")),
                               (client.preview, ("alpha", "a1", {"vdb": "nothing"}))):
            message = expect_error(NOT_FOUND, function, *args)
            check("nothing" in message, f"{function.__name__}: {message}")
    unchanged(calls)
    check_equal(client.list_jobs(), jobs, "jobs")


@case("An empty domain or snapshot is InvalidArgument")
def _():
    unchanged(lambda: [expect_error(INVALID_ARGUMENT, f, *a) for f, a in (
        (client.list_snapshots, ("",)), (client.create, ("",)), (client.get_snapshot, ("alpha", "")),
        (client.delete, ("alpha", "")), (client.rename, ("alpha", "", "x")))])


@case("Bad snapshot names are InvalidArgument: a slash, a control character, 256 bytes, empty for Rename, taken")
def _():
    def calls():
        for name in ("a/b", "tab\there", "x" * 256):
            message = expect_error(INVALID_ARGUMENT, client.create, "alpha", name)
            check(len(message) > 20, f"Create {name!r}: a sentence, not {message!r}")
            expect_error(INVALID_ARGUMENT, client.rename, "alpha", "a1", name)
        expect_error(INVALID_ARGUMENT, client.rename, "alpha", "a1", "")
        check("a2" in expect_error(INVALID_ARGUMENT, client.create, "alpha", "a2"), "Create with a taken name")
        expect_error(INVALID_ARGUMENT, client.rename, "alpha", "a1", "a2")
        expect_error(INVALID_ARGUMENT, client.clone, "alpha", "a1", "bad/name")
    unchanged(calls)


@case("An unknown option key is InvalidArgument naming the key, for every method that takes options")
def _():
    def calls():
        for function, args in ((client.create, ("alpha", "x", "", [], {"colour": True})),
                               (client.preview, ("alpha", "a1", {}, {"memory": True})),
                               (client.revert, ("alpha", "a1", {"restore": True})),
                               (client.commit, ("alpha", {"start": True})),
                               (client.undo, ("alpha", {"restore_memory": True})),
                               (client.delete, ("alpha", "a1", {"force": True})),
                               (client.purge, ("alpha", {"force": True})),
                               (client.clone, ("alpha", "a1", "", {"target": "/tmp"})),
                               (client.clone, ("alpha", "a1", "", {"disks": v("a{sv}", {
                                   "vda": v("a{sv}", {"size": v("s", "big")})})}))):
            message = expect_error(INVALID_ARGUMENT, function, *args)
            key = list(args[-1])[0] if "disks" not in args[-1] else "size"
            check(f'"{key}"' in message, f"{function.__name__}: {message}")
    unchanged(calls)


@case("A wrongly typed option is InvalidArgument naming the key and the type it must have")
def _():
    def calls():
        for function, args, key, expected in (
                (client.create, ("alpha", "x", "", [], {"memory": "yes"}), "memory", "(b)"),
                (client.delete, ("alpha", "a1", {"children": 1}), "children", "(b)"),
                (client.revert, ("alpha", "a1", {"start": v("v", v("b", True))}), "start", "(b)"),
                (client.commit, ("alpha", {"stop": "yes"}), "stop", "(b)"),
                (client.purge, ("alpha", {"undefine": "yes"}), "undefine", "(b)"),
                (client.undo, ("alpha", {"stop": 1}), "stop", "(b)"),
                (client.clone, ("alpha", "a1", "", {"format": True}), "format", "(s)"),
                (client.clone, ("alpha", "a1", "", {"disks": "vda"}), "disks", "(a{sv})"),
                (client.clone, ("alpha", "a1", "", {"disks": v("a{sv}", {"vda": v("s", "raw")})}), "vda",
                 "(a{sv})"),
                (client.clone, ("alpha", "a1", "", {"disks": v("a{sv}", {
                    "vda": v("a{sv}", {"include": v("s", "no")})})}), "include", "(b)"),
                (client.clone, ("alpha", "a1", "", {"linked": "yes"}), "linked", "(b)"),
                (client.clone, ("alpha", "a1", "", {"disks": v("a{sv}", {
                    "vda": v("a{sv}", {"rbd_pool": v("b", True)})})}), "rbd_pool", "(s)")):
            message = expect_error(INVALID_ARGUMENT, function, *args)
            check(key in message and expected in message, f"{key}: {message}")
    unchanged(calls)


@case("Options that exclude each other or have no meaning are InvalidArgument")
def _():
    unchanged(lambda: [expect_error(INVALID_ARGUMENT, f, *a) for f, a in (
        (client.delete, ("alpha", "a1", {"children": True, "metadata_only": True})),
        (client.delete, ("alpha", "a1", {"children_only": True, "children": True})),
        (client.delete, ("alpha", "a1", {"children_only": True, "metadata_only": True})),
        (client.clone, ("alpha", "a1", "", {"target_dir": "/tmp", "pool": "default"})),
        (client.clone, ("alpha", "a1", "", {"format": "vmdk"})),
        (client.preview, ("alpha", "a1", {"": "a1"})))])


@case("An option given twice is InvalidArgument")
def _():
    parameters = GLib.Variant.parse(GLib.VariantType("(ssa{sv})"),
                                    '("alpha", "a1", {"children": <true>, "children": <false>})', None, None)
    try:
        client.connection.call_sync("org.example.Snapshots", PATH, "org.example.Snapshots", "Delete", parameters,
                                    None, 0, 10000, None)
    except GLib.Error as error:
        check(INVALID_ARGUMENT in error.message and "twice" in error.message, error.message)
    else:
        raise AssertionError("accepted")


@case("What the engine refuses when the job runs fails the job with State failed and the engine's sentence")
def _():
    for function, args, words in ((client.create, ("alpha", "x", "", ["vdz"]), "vdz"),
                                  (client.commit, ("alpha",), "not previewing"),
                                  (client.undo, ("alpha",), "not previewing"),
                                  (client.create, ("alpha", "x", "", [], {"memory": True}), "memory")):
        files, state = disk_images(), state_files()
        job = client.run_job(function(*args), expect="failed")
        check(words in job["Error"], f"{function.__name__}: {job['Error']}")
        check_equal((disk_images(), state_files()), (files, state), "nothing changed")


@case("Clone writes only where images live: /etc, /dev, /proc and a per-disk directory outside fail the job with "
      "a sentence naming the allowed places, and nothing is written")
def _():
    for options in ({"target_dir": "/etc"}, {"target_dir": "/dev"}, {"target_dir": "/proc"},
                    {"disks": v("a{sv}", {"vda": v("a{sv}", {"target_dir": v("s", "/etc")})})}):
        files, state = disk_images(), state_files()
        job = client.run_job(client.clone("alpha", "a1", "c-etc", options), expect="failed")
        check("is not a place clones may be written to" in job["Error"] and "clone-targets" in job["Error"],
              job["Error"])
        check_equal((disk_images(), state_files()), (files, state), "nothing changed")
        check(not os.path.exists("/etc/c-etc-vda.qcow2"), "no copy in /etc")
        check(all(d["name"] != "c-etc" for d in client.list_domains()), "no clone defined")


@case("A name spelled as a UUID or holding a bidirectional control is refused at create, rename and clone")
def _():
    uuid = client.domain("alpha")["uuid"]
    for name, says in ((uuid, "form of a UUID"), ("a\u202eb", "U+202E")):
        files, state = disk_images(), state_files()
        for function, args in ((client.create, ("alpha", name)), (client.clone, ("alpha", "a1", name))):
            try:
                job = client.run_job(function(*args), expect="failed")
            except BusError as error:
                check(error.name == INVALID_ARGUMENT and says in error.message, str(error))
                what = "domain name" if function == client.clone else "snapshot name"
                check(what in error.message, f"{function.__name__} calls it a {what}: {error.message}")
            else:
                check(says in job["Error"], job["Error"])
        message = expect_error(INVALID_ARGUMENT, client.rename, "alpha", "a2", name)
        check(says in message, message)
        check_equal((disk_images(), state_files()), (files, state), "nothing changed")


@case("A change refused during a preview names the preview: create and a second preview fail, the preview stays")
def _():
    client.run_job(client.preview("alpha", "a1"))
    job = client.run_job(client.create("alpha", "during"), expect="failed")
    check("preview" in job["Error"], job["Error"])
    job = client.run_job(client.preview("alpha", "a2"), expect="failed")
    check("preview" in job["Error"], job["Error"])
    check_equal(client.domain("alpha")["in_preview"], True, "still in preview")
    client.run_job(client.undo("alpha"))


@case("A job that fails when it runs carries the error's name in ErrorName: InPreview for a create during a "
      "preview, a named error (not Failed) for a disk that is not there; a done job's ErrorName is empty")
def _():
    done = client.run_job(client.create("alpha", "named-ok"))
    check_equal(done["ErrorName"], "", "ErrorName of a done job")
    client.run_job(client.preview("alpha", "a1"))
    try:
        job = client.run_job(client.create("alpha", "named-during"), expect="failed")
        check_equal(job["ErrorName"], ERROR + "InPreview", "ErrorName during a preview")
    finally:
        client.run_job(client.undo("alpha"))
    job = client.run_job(client.create("alpha", "named-vdz", "", ["vdz"]), expect="failed")
    check(job["ErrorName"].startswith(ERROR) and job["ErrorName"] != ERROR + "Failed",
          f"a named error for an unknown disk: {job['ErrorName']} ({job['Error']})")
    client.run_job(client.delete("alpha", "named-ok"))


@case("Unknown job objects and properties get the standard errors; job properties are read-only")
def _():
    expect_error("org.freedesktop.DBus.Error.UnknownObject", client.job, PATH + "/job/999999")
    expect_error("org.freedesktop.DBus.Error.UnknownObject", client.job, PATH + "/job/0x1")
    path = client.create("alpha", "props")
    client.run_job(path)
    expect_error("org.freedesktop.DBus.Error.UnknownProperty", client.call, "Get", "ss", (JOB_IFACE, "Colour"),
                 path=path, interface="org.freedesktop.DBus.Properties")
    expect_error("org.freedesktop.DBus.Error.PropertyReadOnly", client.call, "Set", "ssv",
                 (JOB_IFACE, "State", GLib.Variant("s", "done")), path=path,
                 interface="org.freedesktop.DBus.Properties")


@case("After all of that the daemon still answers and alpha still has exactly its snapshots")
def _():
    names = client.snapshot_names("alpha")
    check("a1" in names and "a2" in names, names)
    check_equal(client.domain("alpha")["in_preview"], False, "in preview")



@case("Without libvirt vmsnapd still starts and owns its name, and answers every call with Failed naming the URI "
      "and why, instead of failing its activation", stops_daemon=True)
def _():
    os.kill(VMSNAPD_PID, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while daemon_alive():
        check(time.monotonic() < deadline, "vmsnapd still runs 30 s after SIGTERM")
        time.sleep(0.05)
    uri = f"qemu+unix:///system?socket={TEST_DIR}/no-libvirtd/libvirt-sock"
    daemon = start_daemon(uri=uri, log_name="vmsnapd-without-libvirt.log")
    try:
        message = expect_error(ERROR + "Failed", client.list_domains)
        check(message.startswith(f"libvirt at {uri} is not reachable: "), f"the refusal: {message}")
        message = expect_error(ERROR + "Failed", client.create, "alpha", "no-libvirt")
        check(f"libvirt at {uri} is not reachable" in message, f"Create's refusal: {message}")
        daemon.send_signal(signal.SIGTERM)
        check_equal(daemon.wait(30), 0, "its exit status on SIGTERM")
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    with open(os.path.join(TEST_DIR, "vmsnapd-without-libvirt.log")) as log:
        text = log.read()
    check(f"libvirt at {uri} is not reachable" in text and "connecting when it is" in text, f"its log: {text}")


finish()
