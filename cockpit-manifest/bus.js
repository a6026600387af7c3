/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bus.js: the page's only way to the outside: org.example.Snapshots on the system
 * bus, through Cockpit's bridge. It turns the interface's calls into promises of plain
 * objects (records arrive as a{sv} and leave here as {key: value}), its signals into
 * callbacks, and D-Bus errors into sentences. What to show is left to the callers. */
const _ = cockpit.gettext;

export const SERVICE = "org.example.Snapshots";
export const MANAGER_PATH = "/org/example/Snapshots";
export const MANAGER_INTERFACE = "org.example.Snapshots";
export const JOB_INTERFACE = "org.example.Snapshots.Job";
const JOB_PATH_PREFIX = MANAGER_PATH + "/job";
const ERROR_PREFIX = "org.example.Snapshots.Error.";

let client = null;

/* superuser "try": when the user has turned on administrative access in Cockpit the
 * calls are made as root, otherwise as the user, and polkit decides for that user. */
export function connect() {
    client = cockpit.dbus(SERVICE, { bus: "system", superuser: "try" });
    return client;
}

/* Calls to the service go out even while it is not running; "owner" reports when it
 * comes or goes (null: gone). */
export function onOwnerChanged(handler) {
    client.addEventListener("owner", (event, owner) => handler(owner));
}

/* ---- values ---- */

function unwrapRecord(dictionary) {
    const record = {};
    for (const [key, variant] of Object.entries(dictionary))
        record[key] = variant.v;
    return record;
}

/* {memory: true, format: "raw"} -> a{sv}; values already shaped as {t, v} pass as they are. */
export function options(values) {
    const dictionary = {};
    for (const [key, value] of Object.entries(values)) {
        if (value === undefined)
            continue;
        if (value !== null && typeof value === "object" && "t" in value && "v" in value)
            dictionary[key] = value;
        else if (typeof value === "boolean")
            dictionary[key] = cockpit.variant("b", value);
        else if (typeof value === "string")
            dictionary[key] = cockpit.variant("s", value);
        else
            throw new TypeError("no D-Bus type for option " + key);
    }
    return dictionary;
}

export function variant(type, value) {
    return cockpit.variant(type, value);
}

/* ---- calls ---- */

/* Changing calls allow interactive authorization, so that an authentication agent
 * (Cockpit's, when there is one) can ask for a password where polkit says auth_admin. */
function call(method, signature, args, interactive) {
    const callOptions = { type: signature };
    if (interactive)
        callOptions.flags = "i";
    return client.call(MANAGER_PATH, MANAGER_INTERFACE, method, args, callOptions);
}

export async function listDomains() {
    const [domains] = await call("ListDomains", "", []);
    return domains.map(unwrapRecord);
}

export async function listSnapshots(domain) {
    const [snapshots] = await call("ListSnapshots", "s", [domain]);
    return snapshots.map(unwrapRecord);
}

export async function getConfiguration(domain, snapshot) {
    const [xml, disks] = await call("GetConfiguration", "ss", [domain, snapshot]);
    return { xml, disks: disks.map(unwrapRecord) };
}

export async function create(domain, name, description, disks, values) {
    const [job] = await call("Create", "sssasa{sv}", [domain, name, description, disks, options(values)], true);
    return job;
}

export async function preview(domain, snapshot, diskMap, values) {
    const [job] = await call("Preview", "ssa{ss}a{sv}", [domain, snapshot, diskMap, options(values)], true);
    return job;
}

export async function commit(domain, values) {
    const [job] = await call("Commit", "sa{sv}", [domain, options(values || {})], true);
    return job;
}

export async function undo(domain, values) {
    const [job] = await call("Undo", "sa{sv}", [domain, options(values || {})], true);
    return job;
}

export async function revert(domain, snapshot, values) {
    const [job] = await call("Revert", "ssa{sv}", [domain, snapshot, options(values)], true);
    return job;
}

export async function remove(domain, snapshot, values) {
    const [job] = await call("Delete", "ssa{sv}", [domain, snapshot, options(values)], true);
    return job;
}

export async function deleteAll(domain, values) {
    const [job] = await call("DeleteAll", "sa{sv}", [domain, options(values)], true);
    return job;
}

/* domain: best its UUID, since a name libvirt no longer defines may be defined again anew. */
export async function purge(domain, values) {
    const [job] = await call("Purge", "sa{sv}", [domain, options(values)], true);
    return job;
}

export async function getHistory(domain) {
    const [entries] = await call("GetHistory", "s", [domain]);
    return entries.map(unwrapRecord);
}

export async function clone(domain, snapshot, newName, values) {
    const [job] = await call("Clone", "sssa{sv}", [domain, snapshot, newName, options(values)], true);
    return job;
}

export function rename(domain, snapshot, newName) {
    return call("Rename", "sss", [domain, snapshot, newName], true);
}

export function setDescription(domain, snapshot, text) {
    return call("SetDescription", "sss", [domain, snapshot, text], true);
}

export async function listJobs() {
    const [jobs] = await call("ListJobs", "", []);
    return jobs;
}

/* ---- jobs ---- */

export async function jobProperties(path) {
    const [properties] = await client.call(path, "org.freedesktop.DBus.Properties", "GetAll", [JOB_INTERFACE],
                                           { type: "s" });
    return unwrapRecord(properties);
}

export function cancelJob(path) {
    return client.call(path, JOB_INTERFACE, "Cancel", [], { type: "" });
}

/* ---- signals ---- */

/* handler(args, path) for a signal of the manager: JobNew, JobRemoved, SnapshotsChanged. */
export function onManagerSignal(member, handler) {
    return client.subscribe({ path: MANAGER_PATH, interface: MANAGER_INTERFACE, member },
                            (path, iface, signal, args) => handler(args, path));
}

/* handler(path, member, args) for every job's Progress and Completed, and
 * handler(path, "PropertiesChanged", [changed]) with the changed values unwrapped. */
export function onJobSignals(handler) {
    const subscriptions = [
        client.subscribe({ path_namespace: JOB_PATH_PREFIX, interface: JOB_INTERFACE },
                         (path, iface, member, args) => handler(path, member, args)),
        client.subscribe({ path_namespace: JOB_PATH_PREFIX, interface: "org.freedesktop.DBus.Properties",
                           member: "PropertiesChanged" },
                         (path, iface, member, args) => {
                             if (args[0] === JOB_INTERFACE)
                                 handler(path, "PropertiesChanged", [unwrapRecord(args[1])]);
                         }),
    ];
    return { remove: () => subscriptions.forEach(s => s.remove()) };
}

/* ---- errors ---- */

export function isNotAuthorized(error) {
    return Boolean(error && error.name === ERROR_PREFIX + "NotAuthorized");
}

/* A call refused, or a job failed (its ErrorName), because the VM runs: the same call
 * with the option stop may do it. */
export function isDomainRunning(error) {
    return Boolean(error && error.name === ERROR_PREFIX + "DomainRunning");
}

/* The sentence to show for a failed call: vmsnapd's own message (it says what to do),
 * or Cockpit's wording for a failure of the connection itself. */
export function errorSentence(error) {
    if (!error)
        return _("Unknown error");
    if (error.name === "org.freedesktop.DBus.Error.ServiceUnknown" || error.name === "org.freedesktop.DBus.Error.NameHasNoOwner" ||
        error.problem === "not-found")
        return _("The snapshot service (vmsnapd) is not running.");
    if (error.message)
        return error.message;
    return cockpit.message(error);
}
