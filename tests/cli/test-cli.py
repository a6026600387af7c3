# SPDX-License-Identifier: LGPL-2.1-or-later
"""test-cli.py: vmsnapctl as administrators use it, against the real stack that
tests/bus/harness.sh starts (a private system bus, the real polkitd with the test
users' rule, one vmsnapd on libvirt's test driver with real qcow2 images). Every
verb with its output, --json that parses, the exit code of each error name that
can be provoked here, the progress bar and Ctrl-C under a pseudo-terminal, the
allowed and the denied user, the completion, and bad input refused before any
call. The bus is reached as the system bus (DBUS_SYSTEM_BUS_ADDRESS)."""
import fcntl
import json
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time

sys.path.insert(0, os.path.join(os.environ["VMSNAP_SOURCE_ROOT"], "tests", "bus"))
from bustest import (ADDRESS, DOMAIN_UUIDS, TEST_DIR, VMSNAPD_PID, Client, case, check, check_equal,  # noqa: E402
                     disk_images, finish, skip, state_files)

client = Client()
SOURCE_VMSNAPCTL = os.environ["VMSNAPCTL"]
COMPLETION = os.environ["VMSNAP_CLI_COMPLETION"]
# A copy the test users can execute (the build tree may be closed to them).
VMSNAPCTL = os.path.join(TEST_DIR, "vmsnapctl")
shutil.copy(SOURCE_VMSNAPCTL, VMSNAPCTL)
os.chmod(VMSNAPCTL, 0o755)

# Exit codes, as vmsnapctl(1) documents them.
EXIT = {"usage": 2, "canceled": 3, "NotFound": 10, "Busy": 11, "InvalidArgument": 12, "DomainRunning": 13,
        "InPreview": 14, "NoSpace": 15, "Locked": 16, "NotAuthorized": 17, "Unsupported": 18, "Failed": 19}

BASE_ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DBUS_SYSTEM_BUS_ADDRESS": ADDRESS, "TZ": "UTC",
            "LANG": "C.UTF-8", "HOME": TEST_DIR}


class Run:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr

    def __repr__(self):
        return f"exit {self.returncode}\nstdout: {self.stdout}\nstderr: {self.stderr}"


def ctl(*args, user=None, env=None, timeout=60):
    """Runs vmsnapctl (as root, or as a test user) off a terminal."""
    command = [VMSNAPCTL, *args]
    if user:
        command = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd="/",
                          env={**BASE_ENV, **(env or {})}, stdin=subprocess.DEVNULL)
    return Run(done.returncode, done.stdout, done.stderr)


def ok(*args, **kwargs):
    run = ctl(*args, **kwargs)
    check(run.returncode == 0, f"vmsnapctl {' '.join(args)}: {run!r}")
    return run


def fails(code, *args, **kwargs):
    run = ctl(*args, **kwargs)
    check_equal(run.returncode, code, f"exit code of vmsnapctl {' '.join(args)} ({run.stderr.strip()})")
    check(run.stderr.startswith("vmsnapctl: ") or " failed: " in run.stderr or "canceled" in run.stderr,
          f"a sentence on stderr: {run.stderr!r}")
    return run


def rows(text):
    """A table's rows as lists of cells (cells are separated by two or more spaces)."""
    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines() if line.strip()]


def snapshot_names(domain):
    return sorted(s["name"] for s in json.loads(ok("--json", "tree", domain).stdout))


# ---- a pseudo-terminal ----


def run_pty(args, columns=100, interrupt=None, env=None, timeout=60):
    """Runs vmsnapctl on a pseudo-terminal of the given width, as a person would. interrupt
    is a list of predicates over the output so far: when the next one holds, Ctrl-C is typed.
    Returns (exit code, everything written to the terminal)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir("/")
        os.execve(VMSNAPCTL, [VMSNAPCTL, *args], {**BASE_ENV, "TERM": "xterm", **(env or {})})
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    output = b""
    pending = list(interrupt or [])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pending and pending[0](output.decode(errors="replace")):
            pending.pop(0)
            os.write(fd, b"\x03")
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
    else:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def screen(output):
    """What the terminal shows at the end: carriage returns overwrite, ESC[K erases, colours
    drop. Also every frame a redraw put on the current line."""
    lines, frames, line = [], [], ""
    for token in re.split(r"(\r\n|\n|\r|\x1b\[K|\x1b\[[0-9;]*[A-Za-z])", output):
        if token in ("\r\n", "\n"):
            lines.append(line)
            line = ""
        elif token == "\r":
            if line:
                frames.append(line)
            line = ""
        elif token == "\x1b[K" or (token and ANSI.fullmatch(token)):
            continue
        else:
            line += token
    if line:
        lines.append(line)
    return lines, frames


# ---- bad input: refused with exit code 2 before any call (the bus address leads nowhere) ----

NOWHERE = {"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent/bus"}


@case("Bad input is one line naming what is wrong and exit code 2, before any call is made")
def _():
    for args, named in [
        (["frobnicate"], '"frobnicate"'),
        (["list", "--frobnicate"], "--frobnicate"),
        (["tree"], "missing argument"),
        (["show", "alpha"], "missing argument"),
        (["list", "extra"], "too many arguments"),
        (["rename", "alpha", "s"], "missing argument"),
        (["list", "--memory"], "--memory does not apply to list"),
        (["create", "alpha", "--disk", "vd a"], '--disk "vd a"'),
        (["preview", "alpha", "s1", "--disk", "vdb"], '--disk "vdb"'),
        (["preview", "alpha", "s1", "--disk", "vdb="], '--disk "vdb="'),
        (["clone", "alpha", "s1", "--disk", "vda"], '--disk "vda"'),
        (["clone", "alpha", "s1", "--disk", "vda:colour=red"], 'unknown key "colour"'),
        (["clone", "alpha", "s1", "--disk", "vda:colour=red"], "rbd-pool"),
        (["clone", "alpha", "s1", "--disk", "vda:format=vmdk"], "format must be qcow2 or raw"),
        (["clone", "alpha", "s1", "--disk", "vda:include=maybe"], "include must be yes or no"),
        (["clone", "alpha", "s1", "--format", "vmdk"], "--format must be qcow2 or raw"),
        (["clone", "alpha", "s1", "--dir", "/a", "--pool", "p"], "--dir and --pool"),
        (["delete", "alpha", "s1", "--children", "--metadata-only"], "exclude each other"),
        (["cancel", "seven"], '"seven" is not a job'),
        (["create", "alpha", "--description"], "option --description needs a value"),
        (["-H"], "option -H needs a value"),
        (["-x", "list"], "unknown option -x"),
        ([], "no command given"),
        (["-H", "host", "--bus-address", "unix:path=/x", "list"], "exclude each other"),
    ]:
        run = ctl(*args, env=NOWHERE)
        check_equal(run.returncode, 2, f"exit code of {args} ({run.stderr.strip()})")
        check_equal(run.stdout, "", f"stdout of {args}")
        check(run.stderr.count("\n") == 1 and run.stderr.startswith("vmsnapctl: "), f"one line: {run.stderr!r}")
        check(named in run.stderr, f"{args}: {named!r} named in {run.stderr!r}")


@case("--help lists every verb, VERB --help its own options, --version the version; nothing is called")
def _():
    text = ok("--help", env=NOWHERE).stdout
    for verb in ("list", "tree", "show", "config", "create", "preview", "commit", "undo", "revert", "delete",
                 "delete-all", "purge", "clone", "rename", "describe", "history", "jobs", "cancel", "monitor"):
        check(re.search(rf"^  {verb}\b", text, re.M), f"{verb} in --help")
    check("__names" not in text, "the completion's helper stays hidden")
    text = ok("clone", "--help", env=NOWHERE).stdout
    check(text.startswith("vmsnapctl [OPTIONS...] clone DOMAIN SNAPSHOT [NEW]"), text)
    for option in ("--disk=TARGET:KEY=VALUE", "--format", "--dir", "--pool", "--start", "--allow-partial",
                   "--linked", "--no-wait"):
        check(option in text, f"{option} in clone --help")
    check("--memory" not in text, "only clone's options")
    check_equal(ok("help", "tree", env=NOWHERE).stdout, ok("tree", "--help", env=NOWHERE).stdout, "help VERB")
    check(re.fullmatch(r"vmsnapctl \d+\.\d+\.\d+\n", ok("--version", env=NOWHERE).stdout), "--version")


@case("Without a bus, a verb says which bus it could not reach and exits 1")
def _():
    run = ctl("list", env=NOWHERE)
    check_equal(run.returncode, 1, "exit code")
    check("cannot connect to the system bus" in run.stderr, run.stderr)
    run = ctl("--bus-address", "unix:path=/nonexistent/bus", "list")
    check_equal(run.returncode, 1, "exit code with --bus-address")
    check("--bus-address" in run.stderr, run.stderr)


# ---- reading ----


@case("list: a table of every domain with its state, snapshot count, current snapshot, preview, size and UUID; "
      "--json is the ListDomains records")
def _():
    run = ok("list")
    table = rows(run.stdout)
    check_equal(table[0], ["NAME", "STATE", "SNAPSHOTS", "CURRENT", "PREVIEW", "SIZE", "UUID"], "header")
    alpha = next(r for r in table if r[0] == "alpha")
    check_equal(alpha, ["alpha", "shutoff", "0", "-", "no", "0 B", DOMAIN_UUIDS["alpha"]], "alpha's row")
    check_equal(table[-1], ["4 domains listed."], "footer")
    check("\x1b[" not in run.stdout, "no colour off a terminal")
    check_equal(rows(ok("--no-legend", "list").stdout), table[1:-1], "--no-legend drops header and footer")
    domains = json.loads(ok("--json", "list").stdout)
    check_equal(sorted(d["name"] for d in domains), ["alpha", "beta", "delta", "gamma"], "names")
    check_equal({k: type(v).__name__ for k, v in domains[0].items()},
                {"name": "str", "uuid": "str", "state": "str", "current_snapshot": "str", "in_preview": "bool",
                 "snapshot_count": "int", "defined": "bool", "snapshot_bytes": "int"}, "keys and JSON types")


@case("create waits for its job: one line per state change on stderr, the new snapshot's name on stdout")
def _():
    run = ok("create", "alpha", "first", "--description", "the first one")
    check_equal(run.stdout, "first\n", "stdout")
    lines = run.stderr.splitlines()
    check(re.fullmatch(r"job \d+ \(create alpha/first\): (queued|running)", lines[0]), lines)
    check(re.fullmatch(r"job \d+ \(create alpha/first\): done", lines[-1]), lines)
    check_equal(len(lines), len(set(lines)), "each state once")
    run = ok("create", "alpha", "--disk", "vda")
    check(re.fullmatch(r"snapshot-\d+\n", run.stdout), f"a default name: {run.stdout!r}")
    check_equal(client.get_snapshot("alpha", run.stdout.strip())["disks"], ["vda"], "--disk vda: that disk only")
    ok("rename", "alpha", run.stdout.strip(), "only-vda")
    job = json.loads(ok("--json", "create", "delta", "made-for-json").stdout)  # the job's record at its end
    check_equal((job["Operation"], job["State"], job["Result"], job["Progress"]),
                ("create", "done", "made-for-json", 1.0), "--json of a job")
    check_equal(client.get_snapshot("alpha", "first")["description"], "the first one", "--description")


@case("show: one snapshot as labelled lines; by name or by id; --json is its record")
def _():
    record = client.get_snapshot("alpha", "first")
    text = ok("show", "alpha", record["id"]).stdout
    fields = dict(re.match(r"\s*([^:]*): ?(.*)", line).groups() for line in text.splitlines())
    check_equal((fields["Name"], fields["Id"], fields["Description"], fields["Parent"], fields["State"],
                 fields["Consistency"], fields["Disks"], fields["Current"], fields["Children"]),
                ("first", record["id"], "the first one", "-", "shutoff", "offline", "vda vdb", "no", "1"), "fields")
    check(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", fields["Created"]), fields["Created"])
    shown = json.loads(ok("--json", "show", "alpha", "first").stdout)
    check_equal(shown["id"], record["id"], "id")
    check_equal(shown["excluded"], [], "excluded")
    check_equal(shown["created"], record["created"], "created")


@case("tree: the snapshots under their parents with ● and └─, time, disks, size and <- current; --json the "
      "ListSnapshots records")
def _():
    ok("create", "alpha", "second")
    # A branch from the first, made through the bus.
    client.run_job(client.revert("alpha", "first"))
    client.run_job(client.create("alpha", "branch"))
    lines = ok("tree", "alpha").stdout.splitlines()
    check_equal(len(lines), 4, f"four snapshots: {lines}")
    check(re.match(r"● first +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  vda,vdb +\d", lines[0]), lines[0])
    records = json.loads(ok("--json", "tree", "alpha").stdout)
    # Siblings come in the bus's order (both made in the same second here).
    if [r["name"] for r in records] == ["first", "only-vda", "second", "branch"]:
        expected = ["├─● only-vda ", "│ └─● second ", "└─● branch "]
    else:
        check_equal([r["name"] for r in records], ["first", "branch", "only-vda", "second"], "order")
        expected = ["├─● branch ", "└─● only-vda ", "  └─● second "]
    for line, start in zip(lines[1:], expected):
        check(line.startswith(start), f"{line!r} starts with {start!r}")
    only_vda = next(line for line in lines if "only-vda" in line)
    check(re.search(r"\bvda +[\d.]+ \w?i?B$", only_vda), f"disks and size: {only_vda}")
    check(next(line for line in lines if "branch" in line).endswith("<- current"), lines)
    check_equal(records, json.loads(json.dumps(client.list_snapshots("alpha"))), "the bus's records")
    check_equal(ok("tree", "beta").stdout, "No snapshots.\n", "an empty tree")
    # --json is written as the reply is read, in json-c's compact form ("/" as it is, control
    # characters escaped), whatever a description holds.
    text = "".join(chr(c) for c in range(1, 128)) + " é€😀"
    ok("describe", "alpha", "branch", text)
    out = ok("--json", "tree", "alpha").stdout
    records = json.loads(out)
    check_equal(next(r["description"] for r in records if r["name"] == "branch"), text, "the description")
    check_equal(out, json.dumps(records, separators=(",", ":"), ensure_ascii=False) + "\n", "the compact form")
    out = ok("--json", "list").stdout
    check_equal(out, json.dumps(json.loads(out), separators=(",", ":"), ensure_ascii=False) + "\n", "list's")


@case("config: the XML recorded at a snapshot; --disks its disks; without a snapshot the disks a create can take")
def _():
    xml = ok("config", "alpha", "first").stdout
    check(xml.startswith("<domain") and "<name>alpha</name>" in xml and xml.endswith("</domain>\n"), xml[:200])
    table = rows(ok("config", "alpha", "first", "--disks").stdout)
    check_equal(table[0], ["TARGET", "FORMAT", "VIRTUAL", "ALLOCATED", "IMAGE"], "header")
    check_equal([r[:3] for r in table[1:]], [["vda", "qcow2", "64.0 MiB"], ["vdb", "qcow2", "64.0 MiB"]], "disks")
    check_equal(table[1][4], f"{TEST_DIR}/images/alpha-vda.qcow2", "the frozen image")
    table = rows(ok("config", "delta", "--disks").stdout)
    check_equal(table[0], ["TARGET", "FORMAT", "VIRTUAL", "ALLOCATED", "ELIGIBLE", "IMAGE", "REASON"], "header")
    by_target = {r[0]: r for r in table[1:]}
    check_equal((by_target["vda"][4], by_target["vda"][6]), ("yes", "-"), "vda eligible")
    check_equal((by_target["hdc"][4], by_target["hdc"][6]), ("no", "cdrom"), "the cdrom")
    document = json.loads(ok("--json", "config", "alpha", "first").stdout)
    check_equal(document["xml"], xml[:len(document["xml"])], "xml")
    check_equal([d["target"] for d in document["disks"]], ["vda", "vdb"], "disks")


@case("rename and describe change the snapshot and print nothing")
def _():
    check_equal(ok("rename", "alpha", "second", "renamed").stdout, "", "rename's output")
    check_equal(ok("describe", "alpha", "renamed", "new text").stdout, "", "describe's output")
    record = client.get_snapshot("alpha", "renamed")
    check_equal(record["description"], "new text", "description")


@case("preview with --disk TARGET=SNAPSHOT, shown in list and tree; commit; preview again and undo")
def _():
    ok("preview", "alpha", "first", "--disk", "vdb=renamed")
    domain = next(r for r in rows(ok("list").stdout) if r[0] == "alpha")
    check_equal((domain[3], domain[4]), ("first", "yes"), "CURRENT, PREVIEW")
    tree = ok("tree", "alpha").stdout
    check(re.search(r"● first .*<- current  \(preview\)", tree), tree)
    check(re.search(r"● renamed .*\(preview\)", tree), tree)
    run = ok("commit", "alpha")
    check(re.search(r"job \d+ \(commit alpha\): done", run.stderr), run.stderr)
    check_equal(client.domain("alpha")["in_preview"], False, "in_preview after commit")
    ok("preview", "alpha", "renamed")
    ok("undo", "alpha")
    check_equal((client.domain("alpha")["in_preview"], client.domain("alpha")["current_snapshot"]),
                (False, "first"), "after undo")


@case("revert goes to a snapshot; delete merges, --metadata-only forgets, --children takes the subtree")
def _():
    ok("revert", "alpha", "renamed")
    check_equal(client.domain("alpha")["current_snapshot"], "renamed", "current")
    ok("create", "alpha", "leaf-1")
    ok("create", "alpha", "leaf-2")
    ok("delete", "alpha", "leaf-1")
    check("leaf-1" not in snapshot_names("alpha") and "leaf-2" in snapshot_names("alpha"), "merged away")
    files = disk_images()
    ok("delete", "alpha", "leaf-2", "--metadata-only")
    check_equal(disk_images(), files, "metadata only: every file stays")
    ok("revert", "alpha", "first")
    ok("delete", "alpha", "branch", "--children")
    check("branch" not in snapshot_names("alpha"), "--children")


@case("clone: the new domain's name on stdout, --format and --disk TARGET:format=...,dir=... honoured")
def _():
    run = ok("clone", "alpha", "first", "alpha-copy", "--format", "raw",
             "--disk", f"vdb:format=qcow2,dir={TEST_DIR}/images")
    check_equal(run.stdout, "alpha-copy\n", "stdout")
    check(os.path.exists(f"{TEST_DIR}/images/alpha-copy-vda.img"), "vda as raw")
    check(os.path.exists(f"{TEST_DIR}/images/alpha-copy-vdb.qcow2"), "vdb as qcow2")
    check("alpha-copy" in [d["name"] for d in client.list_domains()], "defined")
    run = ok("clone", "alpha", "first", "--disk", "vdb:include=no")
    check_equal(run.stdout, "copy_of_alpha\n", "the default name")


@case("--no-wait prints the job's path and returns; jobs lists it; cancel by number ends a queued job")
def _():
    # Three creates of gamma (48 disks each) queue behind each other; the last is canceled.
    paths = [ok("--no-wait", "create", "gamma", f"queued-{i}").stdout.strip() for i in range(3)]
    for path in paths:
        check(re.fullmatch(r"/org/example/Snapshots/job/\d+", path), path)
    table = rows(ok("jobs").stdout)
    check_equal(table[0], ["ID", "OPERATION", "DOMAIN", "SNAPSHOT", "STATE", "PROGRESS", "UID", "RESULT"], "header")
    last = paths[-1].rsplit("/", 1)[1]
    row = next(r for r in table if r[0] == last)
    check_equal(row[1:5], ["create", "gamma", "queued-2", "queued"], "the last one waits")
    ok("cancel", last)
    check_equal(client.job(paths[-1])["State"], "canceled", "canceled")
    ok("cancel", paths[1])  # by path
    jobs = json.loads(ok("--json", "jobs").stdout)
    check_equal({j["path"] for j in jobs} >= set(paths), True, "--json jobs has the paths")
    check(all("State" in j and "Progress" in j for j in jobs), "each job's properties")
    client.run_job(paths[0])


@case("history: each change with its time, operation, snapshot, uid and result; --json the GetHistory records")
def _():
    table = rows(ok("history", "alpha").stdout)
    check_equal(table[0], ["TIME", "OPERATION", "SNAPSHOT", "UID", "RESULT", "ERROR"], "header")
    check_equal(table[1][1:5], ["create", "first", "0", "done"], "the first change")
    check(["rename", "second", "0", "done", "-"] in [r[1:] for r in table], "the rename")
    entries = json.loads(ok("--json", "history", "alpha").stdout)
    check_equal(len(entries), len(table) - 1, "one record per row")
    check(isinstance(entries[0]["time"], int) and entries[0]["operation"] == "create", entries[0])


@case("monitor DOMAIN prints that domain's jobs and changes as lines, and stops on Ctrl-C with exit code 0")
def _():
    monitor = subprocess.Popen([VMSNAPCTL, "monitor", "alpha"], stdout=subprocess.PIPE, text=True, cwd="/",
                               env=BASE_ENV)
    check(monitor.stdout.readline().endswith("Monitoring alpha; press Ctrl-C to stop.\n"), "the first line")
    ok("create", "beta", "not-for-the-monitor")
    ok("create", "alpha", "monitored")
    time.sleep(0.3)
    monitor.send_signal(signal.SIGINT)
    out, _ = monitor.communicate(timeout=10)
    check_equal(monitor.returncode, 0, "exit code")
    lines = [line[9:] for line in out.splitlines()]  # without the time
    check(re.search(r"^job \d+ \(create alpha/monitored\): new, (queued|running), started by uid 0$",
                    "\n".join(lines), re.M), out)
    check(any(re.fullmatch(r"job \d+ \(create alpha/monitored\): done", line) for line in lines), out)
    check("domain alpha: snapshots or state changed" in lines, out)
    check("beta" not in out, "nothing about beta")


# ---- exit codes per error name ----


@case("Each error name has its exit code: NotFound 10, InvalidArgument 12, InPreview 14, NotAuthorized 17, "
      "Failed 19, DomainRunning 13, from a call or from a failed job")
def _():
    run = fails(EXIT["NotFound"], "tree", "no-such-domain")
    check_equal(run.stderr.count("\n"), 1, "one line")
    check('"no-such-domain"' in run.stderr, run.stderr)
    fails(EXIT["NotFound"], "show", "alpha", "no-such-snapshot")
    run = fails(EXIT["InvalidArgument"], "create", "alpha", "first")  # refused by the call
    check('"first"' in run.stderr and run.stderr.count("\n") == 1, run.stderr)
    fails(EXIT["InvalidArgument"], "purge", "alpha")  # a failed job
    fails(EXIT["InvalidArgument"], "rename", "alpha", "first", DOMAIN_UUIDS["beta"])
    ok("preview", "alpha", "renamed")
    run = fails(EXIT["InPreview"], "create", "alpha", "during-preview")  # a failed job
    check(re.search(r"job \d+ \(create alpha/during-preview\): failed: .*\(org.example.Snapshots.Error.InPreview\)",
                    run.stderr), run.stderr)
    check_equal(run.stdout, "", "no result")
    ok("undo", "alpha")
    fails(EXIT["NotAuthorized"], "list", user="vmsnap-no")
    # A clone started on the test driver runs; a live snapshot is beyond that driver (Failed),
    # and a purge --undefine of a running domain is refused (DomainRunning).
    ok("clone", "alpha", "first", "runner", "--start")
    check_equal(client.domain("runner")["state"], "running", "the clone runs")
    run = fails(EXIT["Failed"], "create", "runner")
    check("Error.Failed" in run.stderr, run.stderr)
    fails(EXIT["DomainRunning"], "purge", "runner", "--undefine")


@case("Locked (16): a delete while a clone of the domain copies its data")
def _():
    _, disks = client.get_configuration("beta", "")
    image = disks[0]["image"]
    subprocess.run(["qemu-img", "resize", "-q", image, "1G"], check=True)
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x6b 0 256M", image], check=True,
                   stdout=subprocess.DEVNULL)
    ok("create", "beta", "with-data")
    for attempt in range(3):
        path = ok("--no-wait", "clone", "beta", "with-data", f"beta-copy-{attempt}").stdout.strip()
        while client.job(path)["State"] == "queued":  # the delete must come while it copies
            time.sleep(0.005)
        run = ctl("delete", "beta", "with-data")
        client.run_job(path)
        if run.returncode == EXIT["Locked"]:
            check("Error.Locked" in run.stderr or "locked" in run.stderr.lower(), run.stderr)
            check("with-data" in snapshot_names("beta"), "the snapshot stays")
            return
        if "with-data" not in snapshot_names("beta"):  # the clone ended first: take it again
            ok("create", "beta", "with-data")
    raise AssertionError("three clones ended before the delete reached them")


@case("NoSpace (15): a clone into a directory without room; Unsupported (18): quiesce without a guest agent")
def _():
    small = os.path.join(TEST_DIR, "small")
    os.mkdir(small)
    targets = os.environ["VMSNAP_CLI_CLONE_TARGETS"]
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", small], check=True)
    try:
        with open(targets, "w") as listed:
            listed.write(small + "\n")
        run = fails(EXIT["NoSpace"], "clone", "beta", "with-data", "too-big", "--dir", small)
        check("Error.NoSpace" in run.stderr or "free" in run.stderr, run.stderr)
        check_equal(os.listdir(small), [], "nothing written")
    finally:
        subprocess.run(["umount", small], check=True)
        os.unlink(targets)
    run = fails(EXIT["Unsupported"], "create", "runner", "--quiesce")
    check("guest agent" in run.stderr, run.stderr)


# ---- a person at a terminal ----


@case("On a terminal a clone draws one progress line: bar, percentage, bytes, rate, time left; then done and "
      "the new name")
def _():
    # A copy that ends within the first redraw (100 ms) shows no bar with bytes; such a
    # run is taken again, under a new name, up to three times.
    for attempt in range(1, 4):
        name = "beta-on-tty" if attempt == 1 else f"beta-on-tty-{attempt}"
        code, output = run_pty(["clone", "beta", "with-data", name])
        check_equal(code, 0, f"exit code; terminal: {output!r}")
        lines, frames = screen(output)
        check(re.fullmatch(r"job \d+ \(clone beta/with-data\): done", lines[-2]), lines)
        check_equal(lines[-1], name, "the result")
        bars = [f for f in frames
                if re.search(r"clone beta/with-data  \[[#-]{10,30}\] +\d+%  [\d.]+ \w?i?B/[\d.]+ \wiB", f)]
        if bars:
            break
    check(bars, f"a bar with bytes in one of three clones: {frames}")
    check(all(len(f) < 100 for f in frames), "every frame fits the 100 columns")
    check("\x1b[32m" in output, "colour on a terminal")
    check(any(re.search(r"[KMG]iB/s", f) for f in frames) or len(bars) < 3, f"a rate while it copies: {frames}")
    # At most ten redraws a second (with the job's state changes on top).
    check(len(frames) <= 10 * 10 + 5, f"{len(frames)} frames")


@case("On a terminal a stepped job draws a bar without bytes; NO_COLOR removes the colour")
def _():
    code, output = run_pty(["create", "gamma", "on-tty"], env={"NO_COLOR": "1"}, columns=80)
    check_equal(code, 0, f"exit code; terminal: {output!r}")
    lines, frames = screen(output)
    check(any(re.fullmatch(r"create gamma/on-tty  \[[#-]+\] +\d+%", f) for f in frames), frames)
    check_equal(lines[-1], "on-tty", "the result")
    check("\x1b[3" not in output, "no colour with NO_COLOR")


@case("Ctrl-C cancels the job and waits for it: exit code 3, no snapshot, no file, the metadata unchanged")
def _():
    files, state = disk_images(), state_files()
    code, output = run_pty(["create", "gamma", "interrupted"],
                           interrupt=[lambda text: re.search(r"\] +([1-9]\d?)%", text)])
    lines, _ = screen(output)
    check_equal(code, EXIT["canceled"], f"exit code; screen: {lines}")
    check(any(line.startswith("Canceling job ") for line in lines), lines)
    check(re.fullmatch(r"job \d+ \(create gamma/interrupted\): canceled: .*", lines[-1]), lines)
    check("interrupted" not in snapshot_names("gamma"), "no snapshot")
    check_equal(disk_images(), files, "no file left")
    check_equal(state_files(), state, "metadata unchanged")


@case("A second Ctrl-C leaves the job running: exit code 4, the job's path named")
def _():
    code, output = run_pty(["create", "gamma", "left-running"],
                           interrupt=[lambda text: "running" in text or "%" in text,
                                      lambda text: "Canceling job" in text])
    lines, _ = screen(output)
    check_equal(code, 4, f"exit code; screen: {lines}")
    check(re.search(r"left running: /org/example/Snapshots/job/\d+", lines[-1]), lines)


# ---- users ----


@case("The allowed user reads and changes; the denied user is refused with NotAuthorized's code, by name")
def _():
    run = ok("list", user="vmsnap-ok")
    check("alpha" in run.stdout, run.stdout)
    run = ok("create", "beta", "by-ok", user="vmsnap-ok")
    check_equal(run.stdout, "by-ok\n", "created")
    check(re.search(r"\(create beta/by-ok\): done", run.stderr), run.stderr)
    check(["create", "by-ok", str(int(subprocess.check_output(["id", "-u", "vmsnap-ok"]))), "done", "-"] in
          [r[1:] for r in rows(ok("history", "beta").stdout)], "the history names the user")
    for args in (["list"], ["tree", "alpha"], ["create", "beta", "by-no"], ["delete", "beta", "by-ok"],
                 ["jobs"]):
        run = ctl(*args, user="vmsnap-no")
        check_equal(run.returncode, EXIT["NotAuthorized"], f"{args}: {run!r}")
        check(run.stderr.startswith("vmsnapctl: ") and run.stderr.count("\n") == 1, run.stderr)
    check("by-no" not in snapshot_names("beta"), "nothing created")


# ---- a password prompt through pkttyagent ----

AUTH_USER = "vmsnap-auth"
AUTH_RULES = f"/etc/polkit-1/rules.d/49-vmsnap-cli-test-{os.getpid()}.rules"


def run_as_auth_user(args, password=None, timeout=30):
    """Runs vmsnapctl as AUTH_USER on a pseudo-terminal and types password at the prompt.
    polkit-agent-helper-1, which checks the password for pkttyagent, is setuid and so reaches
    only the default system bus socket: a private mount namespace puts the test's bus there."""
    script = (f"mount -t tmpfs tmpfs /run/dbus && touch /run/dbus/system_bus_socket && "
              f"mount --bind {TEST_DIR}/bus /run/dbus/system_bus_socket && "
              f"exec setpriv --reuid={AUTH_USER} --regid={AUTH_USER} --init-groups {VMSNAPCTL} \"$@\"")
    command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *args]
    pid, fd = pty.fork()
    if pid == 0:
        os.execve("/usr/bin/unshare", command, {**BASE_ENV, "TERM": "dumb"})
    output, typed = b"", False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
        # Typed once the agent has turned echo off: it flushes what came before.
        if not typed and b"Password:" in output and password is not None:
            while termios.tcgetattr(fd)[3] & termios.ECHO and time.monotonic() < deadline:
                time.sleep(0.01)
            os.write(fd, password.encode() + b"\n")
            typed = True
    else:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace").replace("\r\n", "\n")


def password_prompt_cases():
    if subprocess.run(["unshare", "--mount", "--propagation", "private", "true"]).returncode != 0:
        skip("A password prompt through pkttyagent", "no private mount namespace here (unshare --mount)")
        return
    password = os.urandom(9).hex()
    if subprocess.run(["id", AUTH_USER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell",
                        "/usr/sbin/nologin", AUTH_USER], check=True)
    subprocess.run(["chpasswd"], input=f"{AUTH_USER}:{password}", text=True, check=True)
    with open(AUTH_RULES, "w") as rules:
        rules.write(f"""// vmsnapctl tests: {AUTH_USER} must authenticate as itself (auth_admin).
polkit.addAdminRule(function(action, subject) {{
        if (subject.user == "{AUTH_USER}")
                return ["unix-user:{AUTH_USER}"];
}});
polkit.addRule(function(action, subject) {{
        if (action.id.indexOf("org.example.snapshots.") == 0 && subject.user == "{AUTH_USER}")
                return polkit.Result.AUTH_ADMIN;
}});
""")
    os.chmod(AUTH_RULES, 0o644)
    try:
        # polkitd reads new rules within a second or so.
        deadline = time.monotonic() + 10
        while "Authentication is required" not in ctl("list", user=AUTH_USER).stderr:
            check(time.monotonic() < deadline, "polkitd did not pick up the test rule")
            time.sleep(0.2)

        @case("A user whose rule says auth_admin is asked for a password on the terminal (pkttyagent) and, "
              "answering it, lists and creates")
        def _():
            code, output = run_as_auth_user(["list"], password)
            check_equal(code, 0, f"exit code; terminal: {output!r}")
            check(f"Authenticating as: {AUTH_USER}" in output and "Password:" in output, output)
            check("AUTHENTICATION COMPLETE" in output, output)
            check(re.search(r"^alpha +shutoff", output, re.M), output)
            code, output = run_as_auth_user(["create", "beta", "after-password"], password)
            check_equal(code, 0, f"exit code; terminal: {output!r}")
            check(output.rstrip().endswith("after-password"), output)
            check("after-password" in snapshot_names("beta"), "created")

        @case("A wrong password, or --no-ask-password, ends in NotAuthorized's exit code without a change")
        def _():
            code, output = run_as_auth_user(["create", "beta", "wrong-password"], "not-" + password)
            check_equal(code, EXIT["NotAuthorized"], f"exit code; terminal: {output!r}")
            code, output = run_as_auth_user(["--no-ask-password", "create", "beta", "not-asked"])
            check_equal(code, EXIT["NotAuthorized"], f"exit code; terminal: {output!r}")
            check("Password:" not in output, output)
            check(not {"wrong-password", "not-asked"} & set(snapshot_names("beta")), "nothing created")
    finally:
        os.unlink(AUTH_RULES)
        subprocess.run(["userdel", AUTH_USER], capture_output=True)


password_prompt_cases()


# ---- -H over SSH ----


def free_port():
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ssh_cases():
    """An sshd of the test's own on the loopback address, a key made for it, and vmsnapctl -H
    reaching vmsnapd through it (ssh HOST systemd-stdio-bridge). The client's ssh is a wrapper
    that adds the test's configuration, so that nothing of root's own is read or written."""
    name = "-H root@127.0.0.1:PORT reaches vmsnapd over SSH: list, and a create waited for"
    sshd = "/usr/sbin/sshd"
    if subprocess.run(["unshare", "--mount", "--propagation", "private", "true"]).returncode != 0:
        skip(name, "no private mount namespace here (unshare --mount)")
        return
    for tool in (sshd, "/usr/bin/ssh", "/usr/bin/ssh-keygen", "/usr/bin/systemd-stdio-bridge"):
        if not os.access(tool, os.X_OK):
            skip(name, f"{tool} is missing (apt-get install openssh-server openssh-client systemd)")
            return
    ssh_dir = os.path.join(TEST_DIR, "ssh")
    os.makedirs(os.path.join(ssh_dir, "bin"), mode=0o700)
    for key in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(ssh_dir, key)],
                       check=True)
    shutil.copy(os.path.join(ssh_dir, "client_key.pub"), os.path.join(ssh_dir, "authorized_keys"))
    port = free_port()
    with open(os.path.join(ssh_dir, "sshd_config"), "w") as config:
        config.write(f"""ListenAddress 127.0.0.1:{port}
HostKey {ssh_dir}/host_key
AuthorizedKeysFile {ssh_dir}/authorized_keys
PidFile none
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
""")
    with open(os.path.join(ssh_dir, "ssh_config"), "w") as config:
        config.write(f"""Host *
        IdentityFile {ssh_dir}/client_key
        IdentitiesOnly yes
        StrictHostKeyChecking no
        UserKnownHostsFile /dev/null
        GlobalKnownHostsFile /dev/null
        BatchMode yes
        LogLevel ERROR
""")
    wrapper = os.path.join(ssh_dir, "bin", "ssh")
    with open(wrapper, "w") as script:
        script.write(f"#!/bin/sh\nexec /usr/bin/ssh -F {ssh_dir}/ssh_config \"$@\"\n")
    os.chmod(wrapper, 0o755)
    made_privsep = not os.path.isdir("/run/sshd")
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    log = open(os.path.join(ssh_dir, "sshd.log"), "w")
    # systemd-stdio-bridge, the remote end, knows only the system bus's own socket: in sshd's
    # private mount namespace that socket is the test's bus.
    script = (f"mount -t tmpfs tmpfs /run/dbus && touch /run/dbus/system_bus_socket && "
              f"mount --bind {TEST_DIR}/bus /run/dbus/system_bus_socket && "
              f"exec {sshd} -D -e -f {ssh_dir}/sshd_config")
    daemon = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], stderr=log)
    try:
        import socket
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                check(time.monotonic() < deadline and daemon.poll() is None, "sshd did not start")
                time.sleep(0.05)
        # The local bus leads nowhere: whatever answers came over SSH.
        remote = {"PATH": f"{ssh_dir}/bin:{BASE_ENV['PATH']}", **NOWHERE}
        host = f"root@127.0.0.1:{port}"

        @case(name)
        def _():
            run = ok("-H", host, "list", env=remote)
            check(re.search(r"^alpha +shutoff", run.stdout, re.M), run)
            run = ok("-H", host, "create", "beta", "over-ssh", env=remote)
            check_equal(run.stdout, "over-ssh\n", "the result")
            check(re.search(r"job \d+ \(create beta/over-ssh\): done", run.stderr), run.stderr)
            check("over-ssh" in snapshot_names("beta"), "created on the host")
            records = json.loads(ok("-H", host, "--json", "tree", "beta", env=remote).stdout)
            check("over-ssh" in [r["name"] for r in records], "--json over SSH")

        @case("-H to a host that does not answer says so and exits 1")
        def _():
            run = ctl("-H", f"root@127.0.0.1:{free_port()}", "list", env=remote)
            check_equal(run.returncode, 1, f"exit code: {run!r}")
            last = run.stderr.rstrip().splitlines()[-1]
            check(last.startswith("vmsnapctl: cannot list the domains: the connection to root@127.0.0.1:") and
                  "over SSH failed" in last, run.stderr)
    finally:
        daemon.terminate()
        daemon.wait()
        log.close()
        if made_privsep:
            os.rmdir("/run/sshd")


ssh_cases()


# ---- completion ----


def complete(*words):
    """The completion's answer for a command line whose last word is being typed."""
    line = " ".join([VMSNAPCTL, *words])
    script = f"""
source {COMPLETION}
complete -p vmsnapctl
COMP_WORDS=({' '.join(repr(w) for w in [VMSNAPCTL, *words])})
COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1))
COMP_LINE={line!r}
COMP_POINT=${{#COMP_LINE}}
_vmsnapctl
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    done = subprocess.run(["bash", "--norc", "-c", script], capture_output=True, text=True, env=BASE_ENV,
                          timeout=30)
    check_equal(done.returncode, 0, f"bash: {done.stderr}")
    lines = done.stdout.splitlines()
    check_equal(lines[0], "complete -F _vmsnapctl vmsnapctl", "complete -p")
    return sorted(line for line in lines[1:] if line)


@case("Completion: verbs, options per verb, and domain, snapshot and job names from the bus")
def _():
    check_equal(complete("de"), ["delete", "delete-all", "describe"], "verbs")
    check_equal(complete("delete", "alpha", "first", "--ch"), ["--children", "--children-only"], "options")
    check("--memory" not in complete("clone", "--"), "clone's options only")
    check_equal(complete("tree", "al"), ["alpha", "alpha-copy"], "domains")
    check_equal(complete("show", "alpha", "fi"), ["first"], "snapshots")
    check_equal(complete("clone", "alpha", "first", "x", "--format", ""), ["qcow2", "raw"], "--format values")
    ok("create", "alpha", "for-completion")
    jobs = complete("cancel", "")
    check(jobs and all(j.isdigit() for j in jobs), f"job numbers: {jobs}")


@case("delete --children-only keeps the snapshot, delete-all leaves none, purge --undefine takes a domain away")
def _():
    ok("revert", "alpha", "first")
    check(len(snapshot_names("alpha")) > 1, "first has snapshots below it")
    ok("delete", "alpha", "first", "--children-only")
    check_equal(snapshot_names("alpha"), ["first"], "only first stays")
    run = ok("delete-all", "alpha")
    check(re.search(r"job \d+ \(delete-all alpha\): done", run.stderr), run.stderr)
    check_equal(ok("tree", "alpha").stdout, "No snapshots.\n", "no snapshot")
    run = ok("purge", "copy_of_alpha", "--undefine")
    check(re.search(r"job \d+ \(purge copy_of_alpha\): done", run.stderr), run.stderr)
    check("copy_of_alpha" not in [d["name"] for d in client.list_domains()], "gone from the list")
    # Its images are originals now (the clone's copies): a purge never removes those.
    check([f for f in disk_images() if "copy_of_alpha" in f], "its original images stay")


# ---- last: vmsnapd stops ----


@case("Busy (11): a call while vmsnapd stops (SIGTERM) and a clone still runs is refused with a sentence",
      stops_daemon=True)
def _():
    path = ok("--no-wait", "clone", "beta", "with-data", "beta-at-stop").stdout.strip()
    while client.job(path)["State"] == "queued":  # the clone must run when the signal comes
        time.sleep(0.005)
    os.kill(VMSNAPD_PID, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while True:  # until vmsnapd has taken the signal (a call before that is answered)
        run = ctl("list")
        if run.returncode != 0:
            break
        check(time.monotonic() < deadline, "vmsnapd still answered 10 s after SIGTERM")
    check_equal(run.returncode, EXIT["Busy"], f"exit code while vmsnapd stops: {run!r}")
    check(run.stderr.startswith("vmsnapctl: ") and run.stderr.count("\n") == 1, f"one line: {run.stderr!r}")
    check("vmsnapd is stopping" in run.stderr, f"the sentence says why: {run.stderr!r}")


finish()
