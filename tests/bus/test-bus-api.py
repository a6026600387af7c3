# SPDX-License-Identifier: LGPL-2.1-or-later
"""The bus API of vmsnapd, method by method, as root: every method's happy path,
the records' keys and types, jobs from JobNew to JobRemoved, the interface XML
against live introspection, and the command line. vmsnapd runs with
--job-linger 3 (see meson.build)."""
import hashlib
import os
import subprocess
import xml.etree.ElementTree as ElementTree

from bustest import (DOMAIN_UUIDS, ERROR, JOB_IFACE, PATH, SOURCE_ROOT, Client, GLib, SignalRecorder, case,
                     check, check_equal, disk_images, expect_error, finish, make_undefined_domain, pump)

LINGER = 3
client = Client()
DOMAIN_KEYS = {"name": "s", "uuid": "s", "state": "s", "current_snapshot": "s", "in_preview": "b",
               "snapshot_count": "u", "defined": "b", "snapshot_bytes": "t"}
SNAPSHOT_KEYS = {"id": "s", "name": "s", "description": "s", "created": "x", "parent": "s", "state": "s",
                 "consistency": "s", "disks": "as", "excluded": "a(ss)", "memory": "b", "current": "b", "partial": "b", "locked": "b",
                 "in_preview": "b", "children": "u", "size": "t", "reclaimable": "t"}
IMAGE_KEYS = {"target": "s", "image": "s", "format": "s", "virtual_size": "t", "allocated": "t"}
CURRENT_DISK_KEYS = {**IMAGE_KEYS, "eligible": "b", "reason": "s"}


def raw_call(method, signature="", args=()):
    parameters = GLib.Variant(f"({signature})", tuple(args)) if signature else None
    return client.connection.call_sync("org.example.Snapshots", PATH, "org.example.Snapshots", method, parameters,
                                       None, 0, 30000, None)


def record_types(record):
    """{key: type string} of an a{sv} GLib.Variant."""
    return {record.get_child_value(i).get_child_value(0).get_string():
            record.get_child_value(i).get_child_value(1).get_variant().get_type_string()
            for i in range(record.n_children())}


def run(path):
    return client.run_job(path)


def snapshot(domain, name):
    return client.get_snapshot(domain, name)


@case("ListDomains lists every domain with exactly the keys name, uuid, state, current_snapshot, in_preview, "
      "snapshot_count, defined, snapshot_bytes")
def _():
    reply = raw_call("ListDomains")
    check_equal(reply.get_type_string(), "(aa{sv})", "reply signature")
    records = reply.get_child_value(0)
    names = set()
    for i in range(records.n_children()):
        check_equal(record_types(records.get_child_value(i)), DOMAIN_KEYS, "keys and types")
    for domain in client.list_domains():
        names.add(domain["name"])
        check_equal(domain["uuid"], DOMAIN_UUIDS[domain["name"]], "uuid")
        check_equal(domain["state"], "shutoff", "state")
        check_equal(domain["defined"], True, "defined")
        check_equal((domain["current_snapshot"], domain["in_preview"], domain["snapshot_count"],
                     domain["snapshot_bytes"]), ("", False, 0, 0), "snapshot state of a fresh domain")
    check_equal(names, set(DOMAIN_UUIDS), "domains")


@case("ListSnapshots of a domain without snapshots is an empty list")
def _():
    check_equal(client.list_snapshots("alpha"), [], "snapshots")


@case("Create answers with a job path at once, JobNew comes before the reply, and the job ends done with the new "
      "snapshot's name as Result")
def _():
    recorder = SignalRecorder(client.connection, member="JobNew")
    path = client.create("alpha", "first", "the first one")
    pump(0)  # only what arrived before the reply
    check(any(s[4][1] == path for s in recorder.of("JobNew")), f"JobNew for {path} before the reply")
    recorder.close()
    job = run(path)
    check_equal(job["Id"], int(path.rsplit("/", 1)[1]), "Id")
    check_equal((job["Operation"], job["Domain"], job["Snapshot"], job["Result"]),
                ("create", "alpha", "first", "first"), "Operation, Domain, Snapshot, Result")
    check_equal((job["Progress"], job["ProgressValid"], job["Cancelable"], job["Error"]), (1.0, True, False, ""),
                "finished job")
    check_equal(job["StartedByUID"], 0, "StartedByUID")
    check(job["StartTime"] > 1_600_000_000_000_000, f"StartTime in µs since the epoch: {job['StartTime']}")


@case("A snapshot record has exactly the keys of the contract, with created as int64 unix seconds")
def _():
    reply = raw_call("GetSnapshot", "ss", ("alpha", "first"))
    check_equal(record_types(reply.get_child_value(0)), SNAPSHOT_KEYS, "keys and types")
    record = snapshot("alpha", "first")
    check_equal((record["name"], record["description"], record["parent"], record["state"],
                 record["consistency"]),
                ("first", "the first one", "", "shutoff", "offline"), "name, description, parent, state, consistency")
    check_equal((record["disks"], record["excluded"]), (["vda", "vdb"], []), "disks, excluded")
    check_equal((record["memory"], record["current"], record["partial"], record["locked"]),
                (False, True, False, False), "flags")
    import time
    check(abs(record["created"] - time.time()) < 120, f"created is now: {record['created']}")


@case("GetSnapshot finds a snapshot by its id as by its name, and a domain by its UUID as by its name")
def _():
    by_name = snapshot("alpha", "first")
    check_equal(client.get_snapshot("alpha", by_name["id"]), by_name, "by id")
    check_equal(client.get_snapshot(DOMAIN_UUIDS["alpha"], "first"), by_name, "by domain UUID")
    check_equal(client.list_snapshots(DOMAIN_UUIDS["alpha"]), client.list_snapshots("alpha"), "ListSnapshots")


@case("ListDomains shows the new current snapshot and the snapshot count")
def _():
    alpha = client.domain("alpha")
    check_equal((alpha["current_snapshot"], alpha["snapshot_count"], alpha["in_preview"]), ("first", 1, False),
                "alpha")


@case("ListSnapshots records carry children (u), size (t) and reclaimable (t); ListDomains snapshot_bytes (t)")
def _():
    reply = raw_call("ListSnapshots", "s", ("alpha",))
    check_equal(reply.get_type_string(), "(aa{sv})", "reply signature")
    records = reply.get_child_value(0)
    check(records.n_children() > 0, "alpha has snapshots")
    for i in range(records.n_children()):
        types = record_types(records.get_child_value(i))
        check_equal({key: types.get(key) for key in ("children", "size", "reclaimable")},
                    {"children": "u", "size": "t", "reclaimable": "t"}, "types of the sizes")
    first = snapshot("alpha", "first")
    # It froze alpha's original images: vmsnap made none of them, and a delete frees nothing.
    check_equal((first["children"], first["size"], first["reclaimable"]), (0, 0, 0), "first's sizes")
    # The overlays vmsnap made for it are files with blocks.
    check(client.domain("alpha")["snapshot_bytes"] > 0, "alpha's snapshot_bytes counts its overlays")


@case("Create with a disk list includes those disks and records the others as excluded, not selected")
def _():
    run(client.create("alpha", "only-vda", "", ["vda"]))
    record = snapshot("alpha", "only-vda")
    check_equal((record["disks"], record["excluded"]), (["vda"], [("vdb", "not selected")]), "disks, excluded")
    check_equal(record["parent"], snapshot("alpha", "first")["id"], "parent is the previous current snapshot")


@case("Create with an empty name takes a default name and reports it as the job's Result")
def _():
    job = run(client.create("beta"))
    check(job["Result"].startswith("snapshot-"), f"default name: {job['Result']}")
    check_equal(job["Snapshot"], job["Result"], "Snapshot becomes the name taken")
    check_equal(client.snapshot_names("beta"), [job["Result"]], "beta's snapshots")


@case("GetConfiguration returns the domain XML at the snapshot and each included disk's image record")
def _():
    reply = raw_call("GetConfiguration", "ss", ("alpha", "first"))
    check_equal(reply.get_type_string(), "(saa{sv})", "reply signature")
    for i in range(reply.get_child_value(1).n_children()):
        check_equal(record_types(reply.get_child_value(1).get_child_value(i)), IMAGE_KEYS, "keys and types")
    xml, disks = client.get_configuration("alpha", "first")
    check("<name>alpha</name>" in xml, "the XML is alpha's")
    check_equal([d["target"] for d in disks], ["vda", "vdb"], "targets")
    for disk in disks:
        check_equal((disk["format"], disk["virtual_size"]), ("qcow2", 64 << 20), f"{disk['target']} format, size")
        check(os.path.exists(disk["image"]), f"{disk['image']} exists")
        check(disk["allocated"] > 0, "allocated")


@case("GetConfiguration with an empty snapshot returns the domain's configuration now: every disk in the domain's "
      "order, whether Create can include it, and why not")
def _():
    reply = raw_call("GetConfiguration", "ss", ("delta", ""))
    check_equal(reply.get_type_string(), "(saa{sv})", "reply signature")
    for i in range(reply.get_child_value(1).n_children()):
        check_equal(record_types(reply.get_child_value(1).get_child_value(i)), CURRENT_DISK_KEYS, "keys and types")
    xml, disks = client.get_configuration("delta", "")
    check("<name>delta</name>" in xml, "the XML is delta's")
    check_equal([(d["target"], d["eligible"], d["reason"]) for d in disks],
                [("vda", True, ""), ("vdb", True, ""), ("vdc", False, "read-only"), ("vdd", False, "shareable"),
                 ("vde", False, "not a file disk"), ("hdc", False, "cdrom")], "targets, eligible, reason")
    by_target = {d["target"]: d for d in disks}
    images = os.path.join(os.environ["VMSNAP_TEST_DIR"], "images")
    check_equal((by_target["vda"]["image"], by_target["vda"]["format"], by_target["vda"]["virtual_size"]),
                (os.path.join(images, "delta-vda.qcow2"), "qcow2", 64 << 20), "vda")
    check(by_target["vda"]["allocated"] >= 1 << 20, f"vda's allocation counts its data: {by_target['vda']}")
    check_equal((by_target["vdb"]["format"], by_target["vdb"]["virtual_size"]), ("raw", 32 << 20), "vdb")
    check_equal((by_target["vde"]["image"], by_target["vde"]["virtual_size"]), ("", 0), "the network disk")


@case("Create with no disk list takes exactly the disks GetConfiguration now calls eligible, records the others "
      "with its reasons, and the next GetConfiguration names the new overlay")
def _():
    _, before = client.get_configuration("delta", "")
    job = run(client.create("delta", "all-eligible"))
    record = snapshot("delta", "all-eligible")
    check_equal(record["disks"], [d["target"] for d in before if d["eligible"]], "included")
    check_equal(sorted(record["excluded"]), sorted((d["target"], d["reason"]) for d in before if not d["eligible"]),
                "excluded, with the same reasons")
    _, frozen = client.get_configuration("delta", "all-eligible")
    _, after = client.get_configuration("delta", "")
    was = {d["target"]: d["image"] for d in before}
    now = {d["target"]: d for d in after}
    for disk in frozen:
        check_equal(os.path.realpath(disk["image"]), os.path.realpath(was[disk["target"]]),
                    f"{disk['target']} froze the image that was active")
        check(now[disk["target"]]["image"] != was[disk["target"]], f"{disk['target']} runs on a new overlay")
        check_equal(now[disk["target"]]["format"], "qcow2", f"{disk['target']}'s overlay is qcow2")
    check_equal(now["vdc"]["image"], was["vdc"], "an ineligible disk is untouched")
    check_equal(job["Result"], "all-eligible", "Result")


@case("GetConfiguration refuses an empty domain with InvalidArgument and an unknown one with NotFound, each naming "
      "what is wrong")
def _():
    message = expect_error(ERROR + "InvalidArgument", client.get_configuration, "", "")
    check("no domain given" in message, f"the sentence: {message}")
    message = expect_error(ERROR + "NotFound", client.get_configuration, "no-such-vm", "")
    check("no-such-vm" in message, f"the sentence names the domain: {message}")
    message = expect_error(ERROR + "NotFound", client.get_configuration, "delta", "no-such-snapshot")
    check("no-such-snapshot" in message, f"the sentence names the snapshot: {message}")


@case("Rename gives a snapshot a new name; the old name is then unknown")
def _():
    check_equal(client.rename("alpha", "only-vda", "vda-only"), (), "reply")
    check_equal(snapshot("alpha", "vda-only")["disks"], ["vda"], "renamed snapshot")
    expect_error(ERROR + "NotFound", snapshot, "alpha", "only-vda")


@case("SetDescription replaces a snapshot's description")
def _():
    check_equal(client.set_description("alpha", "first", "changed words"), (), "reply")
    check_equal(snapshot("alpha", "first")["description"], "changed words", "description")


@case("Preview shows a snapshot until Undo, and ListDomains says the domain is in preview meanwhile")
def _():
    job = run(client.preview("alpha", "first"))
    check_equal((job["Operation"], job["Snapshot"]), ("preview", "first"), "job")
    check_equal(client.domain("alpha")["in_preview"], True, "in preview")
    job = run(client.undo("alpha"))
    check_equal(job["Operation"], "undo", "Operation")
    alpha = client.domain("alpha")
    check_equal((alpha["in_preview"], alpha["current_snapshot"]), (False, "vda-only"), "after undo")


@case("A custom Preview takes each listed disk from its own snapshot, and Commit makes it the current state")
def _():
    run(client.create("alpha", "second"))
    job = run(client.preview("alpha", "second", {"vdb": "first"}))
    check_equal(job["State"], "done", "preview")
    check_equal(client.domain("alpha")["in_preview"], True, "in preview")
    job = run(client.commit("alpha"))
    check_equal(job["Operation"], "commit", "Operation")
    alpha = client.domain("alpha")
    check_equal((alpha["in_preview"], alpha["current_snapshot"]), (False, "second"), "after commit")


@case("Revert returns the domain to a snapshot, which becomes the current one")
def _():
    job = run(client.revert("alpha", "first", {"start": False}))
    check_equal((job["Operation"], job["Snapshot"]), ("revert", "first"), "job")
    check_equal(client.domain("alpha")["current_snapshot"], "first", "current snapshot")


@case("Delete merges by default: the snapshot goes, its children move to its parent")
def _():
    run(client.create("beta", "b1"))
    run(client.create("beta", "b2"))
    b1 = snapshot("beta", "b1")
    run(client.delete("beta", "b1"))
    check("b1" not in client.snapshot_names("beta"), "b1 is gone")
    check_equal(snapshot("beta", "b2")["parent"], b1["parent"], "b2's parent is b1's parent")


@case("Delete with children removes the snapshot and its whole subtree")
def _():
    base = client.domain("beta")["current_snapshot"]
    run(client.create("beta", "branch"))
    run(client.create("beta", "leaf"))
    run(client.revert("beta", base))  # the current state must not descend from what goes
    run(client.delete("beta", "branch", {"children": True}))
    names = client.snapshot_names("beta")
    check("branch" not in names and "leaf" not in names, f"subtree gone: {names}")


@case("Delete with children_only removes the subtree below a snapshot and keeps the snapshot")
def _():
    run(client.create("beta", "stays"))
    run(client.create("beta", "below"))
    run(client.create("beta", "further-below"))
    run(client.revert("beta", "stays"))
    properties = run(client.delete("beta", "stays", {"children_only": True}))
    check_equal(properties["State"], "done", "the job")
    names = client.snapshot_names("beta")
    check("stays" in names and "below" not in names and "further-below" not in names, f"subtree gone: {names}")


@case("Delete with metadata_only forgets the snapshot and keeps every file")
def _():
    run(client.create("beta", "forget-me"))
    files = disk_images()
    run(client.delete("beta", "forget-me", {"metadata_only": True}))
    check("forget-me" not in client.snapshot_names("beta"), "forgotten")
    check(files <= disk_images(), "no file removed")


@case("Clone defines a new domain whose disks are standalone copies of the snapshot's, as a job")
def _():
    run(client.create("alpha", "to-clone"))
    before = disk_images()
    properties = run(client.clone("alpha", "to-clone", "", {
        "format": "raw", "linked": GLib.Variant("b", True),  # RBD disks only: file disks are copied anyway
        "disks": GLib.Variant("a{sv}", {
            "vda": GLib.Variant("a{sv}", {"format": GLib.Variant("s", "qcow2")})})}))
    check_equal(properties["Result"], "copy_of_alpha", "the new domain's name")
    check_equal(properties["Snapshot"], "to-clone", "Snapshot: still the snapshot copied")
    check_equal(properties["Operation"], "clone", "Operation")
    check(properties["BytesTotal"] >= properties["BytesDone"] > 0 or properties["BytesTotal"] == 0,
          f"bytes {properties['BytesDone']} of {properties['BytesTotal']}")
    check("copy_of_alpha" in [d["name"] for d in client.list_domains()], "listed among the domains")
    made = disk_images() - before
    check(any(p.endswith("copy_of_alpha-vda.qcow2") for p in made), f"vda copied as qcow2: {made}")
    check(any(p.endswith("copy_of_alpha-vdb.img") for p in made), f"vdb copied as raw: {made}")
    for path in made:
        info = subprocess.run(["qemu-img", "info", "-U", path], capture_output=True, text=True).stdout
        check("backing file" not in info, f"{path} is standalone")
    # A name in use is refused before any copying, with a sentence.
    after = disk_images()
    failed = client.run_job(client.clone("alpha", "to-clone", "alpha"), expect="failed")
    check("already exists" in failed["Error"], f"a sentence: {failed['Error']}")
    check_equal(disk_images(), after, "no file written")


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@case("Purge of a domain libvirt no longer defines removes the files vmsnap made and its metadata, as a job; "
      "its original stays and the job's Messages name it; it leaves ListDomains")
def _():
    uuid = "55555555-5555-4555-8555-555555555555"
    original, frozen, leaf, document = make_undefined_domain("ghost", uuid)
    listed = {d["uuid"]: d for d in client.list_domains()}
    check(uuid in listed and listed[uuid]["defined"] is False, f"listed as undefined: {listed.get(uuid)}")
    before = sha256(original)
    properties = run(client.purge("ghost"))
    check_equal((properties["Operation"], properties["Domain"], properties["State"]), ("purge", "ghost", "done"),
                "Operation, Domain, State")
    check(not os.path.exists(frozen) and not os.path.exists(leaf), "vmsnap's overlays removed")
    check(os.path.exists(original) and sha256(original) == before, "the original untouched")
    check(any(original in m for m in properties["Messages"]), f"Messages name the original: {properties['Messages']}")
    check(not os.path.exists(document), "metadata removed")
    check(uuid not in [d["uuid"] for d in client.list_domains()], "no longer in ListDomains")
    expect_error(ERROR + "NotFound", client.purge, "ghost")


@case("ListJobs lists the jobs that exist, finished ones included while they linger")
def _():
    path = client.create("beta", "listed")
    check(path in client.list_jobs(), f"{path} listed")
    run(path)
    check(path in client.list_jobs(), f"{path} still listed once done")


@case(f"A finished job lingers (--job-linger {LINGER}), then JobRemoved says how it ended and the object is gone")
def _():
    recorder = SignalRecorder(client.connection, member="JobRemoved")
    path = client.create("beta", "short-lived")
    run(path)
    check(pump(LINGER + 5, lambda: any(s[4][1] == path for s in recorder.of("JobRemoved"))),
          "JobRemoved within the linger time")
    removed = [s[4] for s in recorder.of("JobRemoved") if s[4][1] == path][0]
    check_equal((removed[0], removed[2]), (int(path.rsplit("/", 1)[1]), "done"), "JobRemoved id and result")
    check(path not in client.list_jobs(), "no longer listed")
    expect_error("org.freedesktop.DBus.Error.UnknownObject", client.job, path)


def interface_members(root, name):
    """{member kind and name: signature details} of one interface of introspection XML."""
    interface = root.find(f"./interface[@name='{name}']")
    if interface is None:
        raise AssertionError(f"no interface {name}")
    members = {}
    for method in interface.findall("method"):
        members["method " + method.get("name")] = [
            (arg.get("direction", "in"), arg.get("name"), arg.get("type")) for arg in method.findall("arg")]
    for signal in interface.findall("signal"):
        members["signal " + signal.get("name")] = [(arg.get("name"), arg.get("type"))
                                                   for arg in signal.findall("arg")]
    for prop in interface.findall("property"):
        members["property " + prop.get("name")] = (prop.get("type"), prop.get("access"))
    return members


def compare_members(live, documented, name):
    problems = []
    for member in sorted(set(live) | set(documented)):
        if member not in documented:
            problems.append(f"{name}: {member} is served but not in the XML")
        elif member not in live:
            problems.append(f"{name}: {member} is in the XML but not served")
        elif live[member] != documented[member]:
            problems.append(f"{name}: {member} served as {live[member]}, documented as {documented[member]}")
    if problems:
        raise AssertionError("\n".join(problems))


XML_FILE = os.path.join(SOURCE_ROOT, "dbus", "org.example.Snapshots.xml")


@case("Live introspection of org.example.Snapshots matches dbus/org.example.Snapshots.xml: members, signatures, "
      "argument names")
def _():
    documented = interface_members(ElementTree.parse(XML_FILE).getroot(), "org.example.Snapshots")
    live = interface_members(ElementTree.fromstring(client.introspect()), "org.example.Snapshots")
    compare_members(live, documented, "org.example.Snapshots")


@case("Live introspection of a job object matches the org.example.Snapshots.Job interface of the XML")
def _():
    path = client.create("beta", "introspected")
    documented = interface_members(ElementTree.parse(XML_FILE).getroot(), JOB_IFACE)
    live = interface_members(ElementTree.fromstring(client.introspect(path)), JOB_IFACE)
    compare_members(live, documented, JOB_IFACE)
    run(path)
    check(path.rsplit("/", 1)[1] in [n.get("name") for n in
                                     ElementTree.fromstring(client.introspect(PATH + "/job")).findall("node")],
          "the job is enumerated under /org/example/Snapshots/job")


@case("Every interface, method, argument, property and signal in the XML has a doc string")
def _():
    root = ElementTree.parse(XML_FILE).getroot()
    missing = []
    for interface in root.findall("interface"):
        for element in [interface] + list(interface.iter()):
            if element.tag not in ("interface", "method", "signal", "property", "arg"):
                continue
            docs = [a for a in element.findall("annotation") if a.get("name") == "org.freedesktop.DBus.DocString"]
            if not docs or not docs[0].get("value", "").strip():
                missing.append(f"{interface.get('name')}: {element.tag} {element.get('name')}")
    check(not missing, "without doc string: " + ", ".join(missing))


VMSNAPD = os.environ["VMSNAPD"]


@case("vmsnapd --help names every option and exits 0; --version prints the version")
def _():
    done = subprocess.run([VMSNAPD, "--help"], capture_output=True, text=True, timeout=10)
    check_equal(done.returncode, 0, "--help status")
    for option in ("--connect", "--state-dir", "--bus-address", "--workers", "--job-linger", "--clone-targets",
                   "--help", "--version"):
        check(option in done.stdout, f"--help mentions {option}")
    done = subprocess.run([VMSNAPD, "--version"], capture_output=True, text=True, timeout=10)
    check_equal(done.returncode, 0, "--version status")
    check(done.stdout.startswith("vmsnapd "), f"--version: {done.stdout!r}")


@case("vmsnapd refuses bad arguments with a message naming them and exit status 2")
def _():
    for args, named in ((["--bogus"], "--bogus"), (["--workers", "0"], "--workers"),
                        (["--workers", "many"], "many"), (["--job-linger", "-1"], "--job-linger"),
                        (["--connect"], "--connect"), (["stray"], "stray")):
        done = subprocess.run([VMSNAPD] + args, capture_output=True, text=True, timeout=10)
        check_equal(done.returncode, 2, f"status for {args}")
        check(named in done.stderr, f"message for {args} names {named}: {done.stderr!r}")


finish()
