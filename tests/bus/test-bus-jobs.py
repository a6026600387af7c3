# SPDX-License-Identifier: LGPL-2.1-or-later
"""Jobs as a client lives them: progress signals, completion, cancellation that
leaves no trace, clients that vanish, reads that never wait for a change, and
SnapshotsChanged. Domain gamma has 48 disks, so that a snapshot of it takes a
while and reports progress disk by disk."""
import os
import signal
import subprocess
import time

from bustest import (DOMAIN_UUIDS, ERROR, JOB_IFACE, TERMINAL_STATES, BusError, Client, GLib, SignalRecorder, case,
                     check, check_equal, connect, daemon_alive, disk_images, expect_error, finish, pump,
                     start_daemon, state_files, VMSNAPD_PID)

client = Client()
GAMMA_DISKS = 48


def run(path, expect="done"):
    return client.run_job(path, expect=expect)


def watch_job(recorder, path, timeout=120):
    """Pumps signals until the job's Completed arrived; returns the job's properties."""
    check(pump(timeout, lambda: recorder.of("Completed", path)), f"Completed for {path} within {timeout} s")
    return client.job(path)


@case("A subscriber sees a job's Progress: the fraction never goes back, at most ten signals a second, then "
      "Completed(true) and Progress 1")
def _():
    recorder = SignalRecorder(client.connection, interface=JOB_IFACE)
    path = client.create("gamma", "progress-watched")
    job = watch_job(recorder, path)
    progress = [s for s in recorder.of("Progress", path)]
    check(len(progress) >= 3, f"several Progress signals: {len(progress)}")
    fractions = [s[4][0] for s in progress]
    check(all(a <= b for a, b in zip(fractions, fractions[1:])), f"fractions never decrease: {fractions}")
    check(all(0.0 <= f <= 1.0 for f in fractions), "fractions within 0..1")
    check(len(set(fractions)) >= 3, f"the fraction moves: {fractions}")
    times = [s[0] for s in progress]
    for i, start in enumerate(times):
        in_second = sum(1 for t in times[i:] if t < start + 1.0)
        check(in_second <= 11, f"{in_second} Progress signals within one second")
    completed = recorder.of("Completed", path)
    check_equal(len(completed), 1, "one Completed")
    check_equal(completed[0][4][0], True, "success")
    check("progress-watched" in completed[0][4][1], f"message names the snapshot: {completed[0][4][1]}")
    check(completed[0][0] >= progress[-1][0], "no Progress after Completed")
    check_equal((job["State"], job["Progress"], job["ProgressValid"]), ("done", 1.0, True), "final properties")
    recorder.close()


@case("A create advances in steps, not bytes: Progress and ProgressValid move while BytesDone, BytesTotal, Rate and "
      "ExpectedEndTime stay 0, in the Progress signals and in the properties")
def _():
    signals = SignalRecorder(client.connection, interface=JOB_IFACE)
    properties = SignalRecorder(client.connection, interface="org.freedesktop.DBus.Properties")
    path = client.create("gamma", "counted-in-steps")
    job = watch_job(signals, path)
    pump(0.2)
    progress = signals.of("Progress", path)
    check(len(progress) >= 3, f"several Progress signals: {len(progress)}")
    check_equal({(s[4][1], s[4][2]) for s in progress}, {(0, 0)}, "done and total of every Progress signal")
    changes = [s[4][1] for s in properties.of("PropertiesChanged", path) if s[4][0] == JOB_IFACE]
    check(any(c.get("ProgressValid") is True for c in changes), "ProgressValid became true")
    check(any(0 < c.get("Progress", 0) < 1 for c in changes), "a Progress between 0 and 1 was published")
    for key in ("BytesDone", "BytesTotal", "Rate", "ExpectedEndTime"):
        check_equal([c[key] for c in changes if key in c and c[key] != 0], [], f"{key} published other than 0")
        check_equal(job[key], 0, key)
    signals.close()
    properties.close()


@case("A clone counts bytes: BytesDone rises to BytesTotal, the data copied, with a Rate while it runs; Snapshot "
      "stays the snapshot copied and Result is the new domain")
def _():
    _, disks = client.get_configuration("alpha", "")
    vdb = next(d["image"] for d in disks if d["target"] == "vdb")
    subprocess.run(["qemu-io", "-f", disks[1]["format"], "-c", "write -P 0x6b 0 48M", vdb], check=True,
                   stdout=subprocess.DEVNULL)
    run(client.create("alpha", "with-data"))
    signals = SignalRecorder(client.connection, interface=JOB_IFACE)
    properties = SignalRecorder(client.connection, interface="org.freedesktop.DBus.Properties")
    path = client.clone("alpha", "with-data", "counted-in-bytes")
    job = watch_job(signals, path)
    pump(0.2)
    check_equal((job["State"], job["Snapshot"], job["Result"]), ("done", "with-data", "counted-in-bytes"),
                "State, Snapshot, Result")
    check(job["BytesTotal"] >= 48 << 20, f"BytesTotal counts the data: {job['BytesTotal']}")
    check_equal(job["BytesDone"], job["BytesTotal"], "BytesDone at the end")
    progress = signals.of("Progress", path)
    check(progress, "Progress signals")
    done = [s[4][1] for s in progress]
    check(all(a <= b for a, b in zip(done, done[1:])), f"done never decreases: {done}")
    check(all(s[4][2] > 0 and s[4][1] <= s[4][2] for s in progress), f"done within total: {progress}")
    changes = [s[4][1] for s in properties.of("PropertiesChanged", path) if s[4][0] == JOB_IFACE]
    check(any(c.get("Rate", 0) > 0 for c in changes), "a Rate was published")
    check(all(c["Snapshot"] == "with-data" for c in changes if "Snapshot" in c), "Snapshot never changed")
    signals.close()
    properties.close()


@case("PropertiesChanged follows the job: State running then done, Snapshot the name taken, Cancelable false "
      "once past the point of no return, before the job says it is done")
def _():
    recorder = SignalRecorder(client.connection, interface="org.freedesktop.DBus.Properties")
    completed = SignalRecorder(client.connection, interface=JOB_IFACE, member="Completed")
    path = client.create("gamma")
    job = watch_job(completed, path)
    pump(0.2)
    changes = [s[4][1] for s in recorder.of("PropertiesChanged", path) if s[4][0] == JOB_IFACE]
    states = [c["State"] for c in changes if "State" in c]
    check_equal(states, ["running", "done"], "State changes")
    check_equal([c["Snapshot"] for c in changes if "Snapshot" in c], [job["Result"]], "Snapshot becomes the name")
    check_equal([c["Cancelable"] for c in changes if "Cancelable" in c], [False], "Cancelable changes")
    uncancelable = next(i for i, c in enumerate(changes) if "Cancelable" in c)
    done = next(i for i, c in enumerate(changes) if c.get("State") == "done")
    check(uncancelable < done, f"Cancelable went false in change {uncancelable}, before State done in change {done}")
    recorder.close()
    completed.close()


@case("Changes of one domain run one at a time: a second job is queued until the first ends, while a job on "
      "another domain runs at once")
def _():
    first = client.create("gamma", "first-in-line")
    second = client.create("gamma", "second-in-line")
    other = client.create("alpha", "meanwhile")
    check_equal(client.job(second)["State"], "queued", "the second job on gamma")
    check_equal(client.job(second)["StartTime"], 0, "StartTime of a queued job")
    check_equal(run(other)["State"], "done", "alpha's job")
    check(client.job(first)["State"] in ("running", "done"), "gamma's first job")
    run(first)
    run(second)
    check(client.job(first)["StartTime"] < client.job(second)["StartTime"], "in call order")


@case("Cancel of a queued job ends it at once as canceled: it never reaches the engine, no file, no snapshot")
def _():
    recorder = SignalRecorder(client.connection, interface=JOB_IFACE, member="Completed")
    names = client.snapshot_names("gamma")
    files = disk_images()
    blocker = client.create("gamma", "blocker")
    queued = client.create("gamma", "never")
    check_equal(client.job(queued)["State"], "queued", "queued")
    check_equal(client.cancel(queued), (), "Cancel")
    job = watch_job(recorder, queued, timeout=10)
    check_equal((job["State"], job["Cancelable"]), ("canceled", False), "State, Cancelable")
    check(job["Error"], "Error says why")
    check_equal(recorder.of("Completed", queued)[0][4][0], False, "Completed(false)")
    check_equal(client.job(blocker)["State"] in ("running", "done"), True, "the job before it goes on")
    run(blocker)
    check_equal(client.snapshot_names("gamma"), sorted(names + ["blocker"]), "snapshots")
    check_equal(len(disk_images() - files), GAMMA_DISKS, "only the blocker's overlays are new")
    recorder.close()


@case("Cancel of a running job stops the engine and leaves no trace: no new file, metadata unchanged")
def _():
    for attempt in range(3):
        files, state = disk_images(), state_files()
        path = client.create("gamma", f"canceled-{attempt}")
        while client.job(path)["State"] == "queued":
            time.sleep(0.002)
        client.cancel(path)
        job = run(path, expect=None)
        if job["State"] == "done":  # finished before the cancel arrived: try again
            continue
        check_equal(job["State"], "canceled", "State")
        check_equal(job["Error"], "the snapshot was canceled; nothing was changed", "the engine's word")
        check_equal(disk_images(), files, "image files")
        check_equal(state_files(), state, "metadata")
        check(f"canceled-{attempt}" not in client.snapshot_names("gamma"), "no snapshot")
        return
    raise AssertionError("three jobs finished before Cancel reached them")


@case("Cancel of a finished job does nothing and succeeds")
def _():
    path = client.create("alpha", "finished-before-cancel")
    run(path)
    check_equal(client.cancel(path), (), "Cancel")
    check_equal(client.job(path)["State"], "done", "State")


@case("A client that disconnects while its job runs does not break the job")
def _():
    leaving = Client(connect())
    path = leaving.create("gamma", "orphaned")
    leaving.connection.close_sync(None)
    check_equal(run(path)["State"], "done", "the job")
    check("orphaned" in client.snapshot_names("gamma"), "the snapshot exists")


@case("A client that disconnects before its replies arrive does not disturb the daemon")
def _():
    leaving = connect()
    for _ in range(20):
        leaving.call("org.example.Snapshots", "/org/example/Snapshots", "org.example.Snapshots", "ListSnapshots",
                     GLib.Variant("(s)", ("gamma",)), None, 0, -1, None, None, None)
    leaving.flush_sync(None)
    leaving.close_sync(None)
    names = {d["name"] for d in client.list_domains()}
    check(set(DOMAIN_UUIDS) <= names, f"the daemon answers: {names}")


@case("While changes of gamma run, ListSnapshots of gamma and of alpha answer within 200 ms (1 s under the "
      "sanitizers) nine times in ten, and none takes three times that")
def _():
    paths = [client.create("gamma") for _ in range(4)]
    latencies, while_running = [], 0
    while any(client.job(p)["State"] not in TERMINAL_STATES for p in paths):
        running = any(client.job(p)["State"] == "running" for p in paths)
        for domain in ("gamma", "alpha"):
            start = time.monotonic()
            client.list_snapshots(domain)
            latencies.append(time.monotonic() - start)
        start = time.monotonic()
        client.list_domains()
        latencies.append(time.monotonic() - start)
        while_running += running
        time.sleep(0.01)
    for p in paths:
        run(p)
    check(while_running >= 10, f"{while_running} rounds measured while a job ran")
    # A read that waited for a change would take a whole change (seconds), and so would every
    # read behind it: nine reads in ten must answer within the bound, and none may take three
    # times it (a lone answer delayed by a loaded 2-core machine, 1.8 s once under the
    # sanitizers, is not a read that waited). The sanitizers make every answer several times
    # slower, so their build gets a wider margin.
    bound = 1.0 if os.environ.get("VMSNAP_SANITIZED") == "1" else 0.2
    ordered = sorted(latencies)
    p90 = ordered[int(len(ordered) * 0.9)]
    check(p90 < bound and ordered[-1] < 3 * bound,
          f"90% of answers within {p90 * 1000:.0f} ms, the slowest {ordered[-1] * 1000:.0f} ms "
          f"(bounds {bound * 1000:.0f} ms and {3 * bound * 1000:.0f} ms)")


@case("SnapshotsChanged carries the domain's UUID after every change made through the bus")
def _():
    # With the test driver a domain cannot be defined or undefined behind vmsnapd's back (its
    # state lives in vmsnapd's own connection); test-bus-libvirtd.sh does that on a real libvirtd.
    # What is checked here is the path those events take too: the engine's watcher reports,
    # vmsnapd signals.
    recorder = SignalRecorder(client.connection, member="SnapshotsChanged")
    uuid = DOMAIN_UUIDS["alpha"]

    def expect_signal(what, action):
        before = len(recorder.of("SnapshotsChanged"))
        action()
        check(pump(10, lambda: any(s[4][0] == uuid for s in recorder.of("SnapshotsChanged")[before:])),
              f"SnapshotsChanged({uuid}) after {what}")

    expect_signal("Create", lambda: run(client.create("alpha", "signalled")))
    expect_signal("Rename", lambda: client.rename("alpha", "signalled", "signalled-2"))
    expect_signal("SetDescription", lambda: client.set_description("alpha", "signalled-2", "text"))
    expect_signal("Delete", lambda: run(client.delete("alpha", "signalled-2", {"metadata_only": True})))
    others = {s[4][0] for s in recorder.signals} - {uuid}
    check(not others, f"no signal for untouched domains: {others}")
    recorder.close()


def stop_while_running(daemon_pid, domain, name):
    """Starts a create and two more queued behind it, SIGTERMs vmsnapd once the first runs;
    returns the three jobs' outcomes and the refusal of a call made meanwhile."""
    recorder = SignalRecorder(client.connection, interface=JOB_IFACE, member="Completed")
    running = client.create(domain, name)
    queued = [client.create(domain, f"{name}-{i}") for i in range(2)]
    while client.job(running)["State"] != "running":
        time.sleep(0.002)
    os.kill(daemon_pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while True:  # until vmsnapd has taken the signal: reads are refused too then
        try:
            client.list_domains()
        except BusError as e:
            check_equal(e.name, ERROR + "Busy", f"a read while stopping ({e})")
            break
        check(time.monotonic() < deadline, "vmsnapd still took calls 10 s after SIGTERM")
        time.sleep(0.01)
    refusal = expect_error(ERROR + "Busy", client.create, domain, f"{name}-late")
    check(pump(60, lambda: len(recorder.signals) == 3), "Completed for the three jobs")
    outcomes = {s[1]: s[4] for s in recorder.signals}
    recorder.close()
    check(all(outcomes[q] == (False, "vmsnapd stopped before the job started; nothing was changed") for q in queued),
          f"queued jobs: {[outcomes[q] for q in queued]}")
    return outcomes[running], refusal


@case("On SIGTERM vmsnapd takes no new work (Busy), ends queued jobs as canceled, lets the running one finish, "
      "signals it all, then exits", stops_daemon=True)
def _():
    outcome, refusal = stop_while_running(VMSNAPD_PID, "gamma", "at-shutdown")
    check("vmsnapd is stopping" in refusal, f"the refusal: {refusal}")
    check_equal(outcome[0], True, f"the running job's success ({outcome})")
    deadline = time.monotonic() + 30
    while daemon_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    check(not daemon_alive(), "vmsnapd exited")
    daemon = start_daemon()
    try:
        check("at-shutdown" in client.snapshot_names("gamma"), "the finished create's snapshot is kept")
    finally:
        daemon.send_signal(signal.SIGTERM)
        check_equal(daemon.wait(30), 0, "the second vmsnapd's exit status")


@case("A running job that outlasts --stop-timeout is canceled through the engine and leaves nothing; vmsnapd then "
      "exits", stops_daemon=True)
def _():
    daemon = start_daemon("--stop-timeout", "0")
    try:
        files = disk_images()
        outcome, _refusal = stop_while_running(daemon.pid, "gamma", "past-timeout")
        check_equal(outcome[0], False, f"the running job's success ({outcome})")
        check_equal(daemon.wait(30), 0, "its exit status")
        check_equal(disk_images(), files, "no file left by the canceled jobs")
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()


@case("On SIGHUP (what a package upgrade sends) vmsnapd lets its running and queued jobs finish, keeps the last "
      "one readable a moment, then exits with status 75 for systemd to start the new version", stops_daemon=True)
def _():
    daemon = start_daemon()
    try:
        recorder = SignalRecorder(client.connection, interface=JOB_IFACE, member="Completed")
        running = client.create("gamma", "during-upgrade")
        queued = client.create("gamma", "after-upgrade")
        while client.job(running)["State"] != "running":
            time.sleep(0.002)
        daemon.send_signal(signal.SIGHUP)
        later = client.create("beta", "asked-after-the-upgrade")  # still served
        check(pump(60, lambda: len(recorder.signals) == 3), "Completed for the three jobs")
        outcomes = {s[1]: s[4][0] for s in recorder.signals}
        recorder.close()
        check_equal([outcomes[j] for j in (running, queued, later)], [True, True, True], "the jobs' success")
        # Whoever waits on the last job still reads how it ended (vmsnapctl reads Result and
        # Messages after Completed): the restart waits a moment past the last job's end.
        time.sleep(1)
        check(daemon.poll() is None, "vmsnapd still runs 1 s after the last job ended")
        check_equal(client.job(later)["State"], "done", "the last job's State, read after its end")
        check_equal(daemon.wait(30), 75, "its exit status once idle")
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    daemon = start_daemon()
    try:
        names = client.snapshot_names("gamma")
        check("during-upgrade" in names and "after-upgrade" in names, f"gamma's snapshots: {names}")
    finally:
        daemon.send_signal(signal.SIGTERM)
        check_equal(daemon.wait(30), 0, "the next vmsnapd's exit status")


# A domain undefined behind vmsnapd's back (and a libvirtd restart) needs a real libvirtd:
# tests/bus/test-bus-libvirtd.sh.
finish()
