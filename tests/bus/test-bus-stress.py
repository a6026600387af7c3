# SPDX-License-Identifier: LGPL-2.1-or-later
"""Many clients at once: 20 clients, each on its own connection, make 50 mixed
calls (reads, creates, renames, description changes, deletes) on two domains.
No update may be lost, every client must see its own writes, and everything must
end within a bound (a deadlock would not)."""
import random
import threading
import time

from bustest import Client, case, check, check_equal, connect, finish

CLIENTS = 20
CALLS = 50
DEADLINE = 240  # seconds for all of it; a deadlock never ends
DOMAINS = ("alpha", "beta")


class Worker(threading.Thread):
    def __init__(self, index):
        super().__init__(daemon=True)
        self.index = index
        self.domain = DOMAINS[index % 2]
        self.random = random.Random(index)
        self.snapshots = {}  # current name -> expected description
        self.serial = 0
        self.calls = 0
        self.problems = []
        self.done = False

    def fail(self, text):
        self.problems.append(f"client {self.index}: {text}")

    def pick(self):
        return self.random.choice(sorted(self.snapshots)) if self.snapshots else None

    def step(self, client):
        choices = ["list", "list", "get", "domains", "jobs", "configuration", "describe", "describe", "create"]
        if len(self.snapshots) >= 2:
            choices += ["rename", "delete"]
        action = self.random.choice(choices) if self.snapshots else "create"
        name = self.pick()
        if action == "create":
            self.serial += 1
            new = f"c{self.index}-{self.serial}"
            job = client.wait_job(client.create(self.domain, new, f"{new} v0"), timeout=DEADLINE)
            if job["State"] != "done":
                self.fail(f"create {new}: {job['State']} {job['Error']}")
            else:
                self.snapshots[new] = f"{new} v0"
        elif action == "describe":
            text = f"{name} v{self.random.randrange(1000)}"
            client.set_description(self.domain, name, text)
            self.snapshots[name] = text
            seen = client.get_snapshot(self.domain, name)["description"]
            if seen != text:
                self.fail(f"wrote {text!r} to {name}, read {seen!r}")
        elif action == "rename":
            new = f"{name}-r"
            client.rename(self.domain, name, new)
            self.snapshots[new] = self.snapshots.pop(name)
        elif action == "delete":
            job = client.wait_job(client.delete(self.domain, name, {"metadata_only": True}), timeout=DEADLINE)
            if job["State"] != "done":
                self.fail(f"delete {name}: {job['State']} {job['Error']}")
            else:
                del self.snapshots[name]
        elif action == "list":
            names = {s["name"] for s in client.list_snapshots(self.domain)}
            if not set(self.snapshots) <= names:
                self.fail(f"own snapshots missing from the list: {set(self.snapshots) - names}")
        elif action == "get":
            record = client.get_snapshot(self.domain, name)
            if record["description"] != self.snapshots[name]:
                self.fail(f"{name}: description {record['description']!r}, expected {self.snapshots[name]!r}")
        elif action == "domains":
            client.list_domains()
        elif action == "jobs":
            client.list_jobs()
        elif action == "configuration":
            client.get_configuration(self.domain, name)

    def run(self):
        try:
            client = Client(connect())
            for _ in range(CALLS):
                self.step(client)
                self.calls += 1
            client.connection.close_sync(None)
        except Exception as error:  # reported as the case's failure
            self.fail(f"after {self.calls} calls: {error!r}")
        self.done = True


workers = [Worker(i) for i in range(CLIENTS)]
elapsed = 0.0


@case(f"{CLIENTS} clients making {CALLS} mixed calls each on two domains all finish within {DEADLINE} s "
      "(no deadlock), and each sees its own writes")
def _():
    global elapsed
    start = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(max(0.1, DEADLINE - (time.monotonic() - start)))
    elapsed = time.monotonic() - start
    stuck = [w.index for w in workers if not w.done]
    check(not stuck, f"clients still waiting after {DEADLINE} s: {stuck}")
    problems = [p for w in workers for p in w.problems]
    check(not problems, "\n".join(problems[:20]))
    check_equal(sum(w.calls for w in workers), CLIENTS * CALLS, "calls made")
    print(f"# {CLIENTS * CALLS} calls in {elapsed:.1f} s")


@case("No update was lost: every domain has exactly the snapshots its clients left, with the last description "
      "each wrote")
def _():
    client = Client()
    for domain in DOMAINS:
        expected = {}
        for worker in workers:
            if worker.domain == domain:
                expected.update(worker.snapshots)
        actual = {s["name"]: s["description"] for s in client.list_snapshots(domain)}
        check_equal(actual, expected, f"{domain}'s snapshots and descriptions")
        check_equal(client.domain(domain)["snapshot_count"], len(expected), f"{domain}'s snapshot_count")


@case("Every job of the run ended done and the daemon still lists its jobs")
def _():
    client = Client()
    states = {}
    for path in client.list_jobs():
        state = client.job(path)["State"]
        states[state] = states.get(state, 0) + 1
    check_equal(set(states), {"done"}, f"job states {states}")


finish()
