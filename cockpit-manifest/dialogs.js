/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dialogs.js: the dialogs of the page, each filled with defaults from the bus:
 * Create, Preview, Custom preview (configuration plus a disk × snapshot matrix, as
 * oVirt's), Commit, Revert, Delete (merge, with children, children only, or metadata
 * only, each saying what it keeps, the merge what it frees), Delete all, Purge (a VM
 * libvirt no longer defines), Edit (rename and description) and Clone (name, per-disk
 * target directory and format from GetConfiguration; for RBD disks a target pool and
 * linked or standalone). A dialog starts the call; the
 * job it returns is handed to the job list, and the tree follows SnapshotsChanged.
 * Preview, Commit and Revert refused because the VM runs offer to stop it and retry.
 * ctx: {domain (ListDomains record), records (ListSnapshots), tree (buildTree), jobs}. */
import * as bus from "./bus.js";
import { h, alert, label, replaceChildren, spinner, formatBytes } from "./dom.js";
import { Modal, formGroup, fieldset, textInput, textArea, select, choice } from "./modal.js";
import { treeRows } from "./tree.js";

const _ = cockpit.gettext;

const REASONS = {
    "not selected": _("not selected"),
    cdrom: _("CD-ROM"),
    "read-only": _("read-only"),
    "not a file disk": _("not a file disk"),
    "no source file": _("no source file"),
    shareable: _("shareable"),
    "format not supported": _("format not supported"),
};

function reasonText(reason) {
    return REASONS[reason] || reason;
}

function quoted(name) {
    return cockpit.format(_("“$0”"), name);
}

async function startJob(ctx, promise, ownTitle) {
    const path = await promise;
    await ctx.jobs.track(path, { mine: true, ownTitle });
    return path;
}

/* The primary action of a dialog whose call accepts the option stop: start(values) makes
 * the call. When the call, or the job it made, is refused because the VM runs, the dialog
 * stays open with vmsnapd's sentence and its button becomes stopLabel, which tries again
 * with stop. Only for a VM the page sees running does the dialog wait for the job's
 * outcome: a shut-off VM's job goes to the job list at once, as the others do. */
function stoppable(ctx, stopLabel, start) {
    let stop = false;
    return async modal => {
        try {
            const path = await startJob(ctx, start(stop ? { stop: true } : {}));
            if (stop || ctx.domain.state === "shutoff")
                return;
            const outcome = await ctx.jobs.outcome(path);
            if (outcome && outcome.State === "failed" && bus.isDomainRunning({ name: outcome.ErrorName })) {
                ctx.jobs.drop(path); // the dialog says it, and offers what to do
                const error = new Error(outcome.Error);
                error.name = outcome.ErrorName;
                throw error;
            }
        } catch (error) {
            if (!stop && bus.isDomainRunning(error)) {
                stop = true;
                modal.setPrimaryLabel(stopLabel);
            }
            throw error;
        }
    };
}

/* The next "snapshot-N" that no snapshot of the domain is called. */
export function nextSnapshotName(records) {
    const names = new Set(records.map(record => record.name));
    let n = records.length + 1;
    while (names.has(`snapshot-${n}`))
        n += 1;
    return `snapshot-${n}`;
}

function descendants(node) {
    const found = [];
    const stack = [...node.children];
    while (stack.length > 0) {
        const next = stack.pop();
        found.push(next);
        stack.push(...next.children);
    }
    return found;
}

/* ---- Create ---- */

/* One checkbox per disk of the domain as it is now (GetConfiguration with no
 * snapshot): the eligible ones checked, the others disabled with the reason. */
function diskChoice(disk) {
    const details = disk.image
        // TRANSLATORS: a disk's image file, its format (qcow2, raw) and its size
        ? cockpit.format(_("$0 ($1, $2)"), disk.image, disk.format, formatBytes(disk.virtual_size))
        : null;
    return {
        eligible: disk.eligible,
        ...choice("checkbox", disk.target, details, {
            checked: disk.eligible,
            disabledReason: disk.eligible ? null : cockpit.format(_("Cannot be included: $0"), reasonText(disk.reason)),
            dataset: { target: disk.target },
        }),
    };
}

export function createDialog(ctx) {
    const { domain } = ctx;
    const name = textInput(nextSnapshotName(ctx.records), { "data-field": "name", maxlength: "255", "data-autofocus": true });
    const description = textArea("", { "data-field": "description" });
    // Until GetConfiguration answers there are no checkboxes, and Create includes every eligible disk.
    let diskChoices = null;
    const disksArea = h("div", { class: "vmsnap-disk-choices", "aria-busy": "true" }, spinner("md"));
    const running = domain.state === "running";
    const memory = running ? choice("checkbox", _("Save the memory state"), _("The VM can later resume from this moment."), { checked: false, dataset: { field: "memory" } }) : null;
    const quiesce = running ? choice("checkbox", _("Quiesce file systems"), _("Needs the QEMU guest agent in the VM."), { checked: false, dataset: { field: "quiesce" } }) : null;

    const body = h("div", { class: "vmsnap-dialog-body" },
                   formGroup(_("Name"), name),
                   formGroup(_("Description"), description),
                   fieldset(_("Disks"), disksArea,
                            _("Unchecked disks keep changing with the VM; the snapshot records them as excluded.")),
                   running
                       ? fieldset(_("Running VM"), [memory.element, quiesce.element])
                       : h("p", { class: "pf-c-form__helper-text vmsnap-muted" },
                           cockpit.format(_("$0 is not running: its disks are saved, there is no memory state to save."), domain.name)));

    const modal = new Modal({
        title: cockpit.format(_("Create a snapshot of $0"), domain.name),
        body,
        dataset: { dialog: "create" },
        errorTitle: _("The snapshot was not created"),
        primary: {
            label: _("Create"),
            action: async () => {
                // Not "enabled": the dialog disables every field while the call runs.
                const chosen = (diskChoices || []).filter(c => c.eligible && c.input.checked).map(c => c.input.dataset.target);
                if (diskChoices && chosen.length === 0)
                    throw new Error(_("Choose at least one disk."));
                const values = running ? { memory: memory.input.checked, quiesce: quiesce.input.checked } : {};
                await startJob(ctx, bus.create(domain.name, name.value.trim(), description.value, chosen, values));
            },
        },
    }).open();

    bus.getConfiguration(domain.name, "").then(configuration => {
        if (modal.running)
            return; // Create already went out with every eligible disk
        diskChoices = configuration.disks.map(diskChoice);
        replaceChildren(disksArea, diskChoices.map(c => c.element));
        disksArea.removeAttribute("aria-busy");
    }, error => {
        replaceChildren(disksArea, alert("warning", _("The disks could not be read"), h("p", {}, bus.errorSentence(error))));
        disksArea.append(h("p", { class: "pf-c-form__helper-text" }, _("The snapshot includes every disk that can be snapshotted.")));
        disksArea.removeAttribute("aria-busy");
    });
    return modal;
}

/* ---- Preview, Commit, Revert ---- */

export function previewDialog(ctx, snapshot) {
    const { domain } = ctx;
    const restore = snapshot.memory ? choice("checkbox", _("Restore the memory state"), null, { dataset: { field: "restore_memory" } }) : null;
    return new Modal({
        title: cockpit.format(_("Preview $0"), quoted(snapshot.name)),
        body: h("div", {},
                h("p", {}, cockpit.format(_("$0 shows the disks and configuration of $1 until you commit or undo the preview. Nothing is lost: Undo returns to the state $0 has now."), domain.name, quoted(snapshot.name))),
                restore ? restore.element : null),
        size: "sm",
        dataset: { dialog: "preview" },
        errorTitle: _("The preview did not start"),
        primary: {
            label: _("Preview"),
            action: stoppable(ctx, _("Stop the VM and preview"), stop =>
                bus.preview(domain.name, snapshot.id, {}, { ...stop, restore_memory: restore ? restore.input.checked : undefined })),
        },
    }).open();
}

export function commitDialog(ctx) {
    const { domain } = ctx;
    return new Modal({
        title: cockpit.format(_("Commit the preview of $0"), domain.name),
        body: h("p", {}, cockpit.format(_("The previewed state becomes the state of $0. The state it had before the preview is discarded, except what its snapshots hold; every snapshot is kept."), domain.name)),
        size: "sm",
        dataset: { dialog: "commit" },
        errorTitle: _("The preview was not committed"),
        primary: { label: _("Commit"), action: stoppable(ctx, _("Stop the VM and commit"), stop => bus.commit(domain.name, stop)) },
    }).open();
}

export function revertDialog(ctx, snapshot) {
    const { domain } = ctx;
    const start = choice("checkbox", _("Start the VM afterwards"), null, { dataset: { field: "start" } });
    const restore = snapshot.memory
        ? choice("checkbox", _("Start from the saved memory state"), null, { dataset: { field: "restore_memory" } })
        : null;
    return new Modal({
        title: cockpit.format(_("Revert $0 to $1"), domain.name, quoted(snapshot.name)),
        body: h("div", {},
                h("p", {}, cockpit.format(_("Every disk and the configuration of $0 return to $1. What $0 holds now and no snapshot saved is discarded; every snapshot is kept."), domain.name, quoted(snapshot.name))),
                start.element, restore ? restore.element : null),
        size: "sm",
        dataset: { dialog: "revert" },
        errorTitle: _("The VM was not reverted"),
        primary: {
            label: _("Revert"),
            danger: true,
            action: stoppable(ctx, _("Stop the VM and revert"), stop => bus.revert(domain.name, snapshot.id, {
                ...stop,
                start: start.input.checked,
                restore_memory: restore ? restore.input.checked : undefined,
            })),
        },
    }).open();
}

/* ---- Custom preview ---- */

export function customPreviewDialog(ctx, initial) {
    const { domain } = ctx;
    const rows = treeRows(ctx.tree);
    const records = rows.map(row => row.node.record);
    const targets = new Set();
    for (const record of records) {
        (record.disks || []).forEach(target => targets.add(target));
        (record.excluded || []).forEach(([target]) => targets.add(target));
    }
    const diskTargets = Array.from(targets).sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
    const byId = new Map(records.map(record => [record.id, record]));
    const includes = (record, target) => (record.disks || []).includes(target);
    const knows = (record, target) => includes(record, target) || (record.excluded || []).some(([t]) => t === target);

    let config = initial || records.find(record => record.current) || records[0];
    const restore = choice("checkbox", _("Restore the memory state"), _("Only with the configuration snapshot's own disks and memory."), { dataset: { field: "restore_memory" } });

    const configRadios = [];
    const diskRadios = new Map(diskTargets.map(target => [target, []])); // target -> [{input, id}]

    function radio(name, value, labelText, dataset) {
        const input = h("input", { type: "radio", class: "pf-c-radio__input", name, value, "aria-label": labelText, dataset });
        return input;
    }

    const header = h("tr", { role: "row" },
                     h("th", { scope: "col" }, _("Snapshot")),
                     h("th", { scope: "col", class: "vmsnap-matrix-config" }, _("Configuration")),
                     diskTargets.map(target => h("th", { scope: "col", class: "vmsnap-matrix-disk", dataset: { target } }, target)));
    const bodyRows = rows.map(row => {
        const record = row.node.record;
        const configInput = radio("config", record.id, cockpit.format(_("Configuration of $0"), record.name), { snapshot: record.name });
        configRadios.push(configInput);
        const name = h("th", { scope: "row", class: "vmsnap-matrix-name" }, record.name);
        name.style.paddingInlineStart = `calc(var(--pf-global--spacer--lg) + var(--pf-global--spacer--md) * ${row.level - 1})`;
        return h("tr", { dataset: { snapshot: record.name } },
                 name,
                 h("td", { class: "vmsnap-matrix-config" }, configInput),
                 diskTargets.map(target => {
                     if (!includes(record, target)) {
                         const excluded = (record.excluded || []).find(([t]) => t === target);
                         return h("td", { class: "vmsnap-matrix-excluded", title: excluded ? reasonText(excluded[1]) : "" },
                                  excluded ? _("excluded") : "—");
                     }
                     const input = radio(`disk-${target}`, record.id, cockpit.format(_("$0 from $1"), target, record.name), { target, snapshot: record.name });
                     diskRadios.get(target).push(input);
                     return h("td", { class: "vmsnap-matrix-disk" }, input);
                 }));
    });
    // A disk the configuration snapshot excluded keeps the VM's current state, unless another snapshot is chosen.
    const currentRow = h("tr", { class: "vmsnap-matrix-current", dataset: { snapshot: "" } },
                         h("th", { scope: "row", class: "vmsnap-matrix-name" }, _("Current state (no snapshot)")),
                         h("td", {}),
                         diskTargets.map(target => {
                             const input = radio(`disk-${target}`, "", cockpit.format(_("$0 keeps its current state"), target), { target, snapshot: "" });
                             diskRadios.get(target).push(input);
                             return h("td", { class: "vmsnap-matrix-disk" }, input);
                         }));

    const summary = h("p", { class: "pf-c-form__helper-text", "aria-live": "polite" });

    function applyDefaults() {
        for (const input of configRadios)
            input.checked = input.value === config.id;
        for (const [target, inputs] of diskRadios) {
            const inConfig = knows(config, target);
            for (const input of inputs) {
                input.checked = includes(config, target) ? input.value === config.id : input.value === "";
                // Disks the configuration does not have cannot be previewed; "current" is for disks it excluded.
                input.disabled = !inConfig || (input.value === "" && includes(config, target));
            }
        }
        update();
    }

    function chosenDisks() {
        const map = {};
        for (const [target, inputs] of diskRadios) {
            // Not "enabled" too: the dialog disables every field while the call runs.
            const checked = inputs.find(input => input.checked);
            if (checked && checked.value !== "" && checked.value !== config.id)
                map[target] = checked.value;
        }
        return map;
    }

    function update() {
        const map = chosenDisks();
        const ownDisks = Object.keys(map).length === 0;
        restore.input.disabled = !config.memory || !ownDisks;
        restore.element.querySelector("label").classList.toggle("pf-m-disabled", restore.input.disabled);
        if (restore.input.disabled)
            restore.input.checked = false;
        const others = Object.entries(map).map(([target, id]) => cockpit.format(_("$0 from $1"), target, byId.get(id).name));
        summary.textContent = others.length
            ? cockpit.format(_("Configuration and the other disks from $0; $1."), config.name, others.join(", "))
            : cockpit.format(_("Configuration and every disk from $0."), config.name);
    }

    const matrix = h("table", { class: "pf-c-table pf-m-compact pf-m-grid-md vmsnap-matrix", "aria-label": _("Disk and snapshot matrix") },
                     h("thead", {}, header), h("tbody", {}, bodyRows, currentRow));
    matrix.addEventListener("change", event => {
        if (event.target.name === "config") {
            config = byId.get(event.target.value);
            applyDefaults();
        } else {
            update();
        }
    });
    applyDefaults();

    return new Modal({
        title: cockpit.format(_("Custom preview of $0"), domain.name),
        description: _("Choose the snapshot whose configuration the VM shows, then for each disk the snapshot whose state it shows."),
        body: h("div", {}, h("div", { class: "vmsnap-matrix-scroll" }, matrix), summary, restore.element),
        size: "lg",
        dataset: { dialog: "custom-preview" },
        errorTitle: _("The preview did not start"),
        primary: {
            label: _("Preview"),
            action: stoppable(ctx, _("Stop the VM and preview"), stop =>
                bus.preview(domain.name, config.id, chosenDisks(),
                            { ...stop, restore_memory: config.memory ? restore.input.checked : undefined })),
        },
    }).open();
}

/* ---- Delete ---- */

export function deleteDialog(ctx, snapshot) {
    const { domain } = ctx;
    const node = ctx.tree.nodes.get(snapshot.id);
    const below = descendants(node);
    const current = ctx.records.find(record => record.current);
    const currentInside = current && (current.id === snapshot.id || below.some(n => n.record.id === current.id));
    const currentBelow = current && below.some(n => n.record.id === current.id);
    const parentName = node.parent ? node.parent.record.name : null;
    // What the merge frees, from the plan vmsnapd would run now.
    const frees = snapshot.reclaimable === undefined ? null
        : h("span", { class: "vmsnap-reclaimable" },
            snapshot.reclaimable > 0 ? cockpit.format(_("Frees about $0."), formatBytes(snapshot.reclaimable)) : _("Frees no disk space."));

    const merge = choice("radio", _("Delete this snapshot only (merge)"),
                         [node.children.length
                             ? cockpit.format(cockpit.ngettext(
                                 "Keeps everything else: its child moves to $1 and still reads exactly what it reads now, as do the VM's disks. Its data is merged into the images that need it.",
                                 "Keeps everything else: its $0 children move to $1 and still read exactly what they read now, as do the VM's disks. Its data is merged into the images that need it.",
                                 node.children.length), node.children.length, parentName ? quoted(parentName) : _("the top of the tree"))
                             : _("Keeps everything else: every other snapshot and the VM's disks read exactly what they read now. Its data is merged into the images that need it."),
                         frees ? " " : null, frees],
                         { name: "delete-mode", value: "merge", checked: true });
    const children = choice("radio",
                            cockpit.format(cockpit.ngettext("Delete it and the $0 snapshot below it", "Delete it and the $0 snapshots below it", below.length), below.length),
                            _("Keeps the other snapshots; the states this branch holds are gone for good."),
                            {
                                name: "delete-mode",
                                value: "children",
                                disabledReason: below.length === 0 ? _("It has no snapshot below it.")
                                    : currentInside ? cockpit.format(_("Not possible while $0 runs on this branch: revert to a snapshot outside it first."), domain.name) : null,
                            });
    const childrenOnly = choice("radio",
                                cockpit.format(cockpit.ngettext("Delete the $0 snapshot below it, keep this one", "Delete the $0 snapshots below it, keep this one", below.length), below.length),
                                _("Keeps this snapshot and the others; the states of the branches below it are gone for good."),
                                {
                                    name: "delete-mode",
                                    value: "children_only",
                                    disabledReason: below.length === 0 ? _("It has no snapshot below it.")
                                        : currentBelow ? cockpit.format(_("Not possible while $0 runs on a branch below it: revert to this snapshot or one outside its branches first."), domain.name) : null,
                                });
    const metadata = choice("radio", _("Forget it, keep its files"),
                            _("Keeps every image file on disk untouched; vmsnap only stops listing this snapshot."),
                            { name: "delete-mode", value: "metadata_only" });

    return new Modal({
        title: cockpit.format(_("Delete snapshot $0"), quoted(snapshot.name)),
        body: h("div", {}, fieldset(_("What to delete"), [merge.element, children.element, childrenOnly.element, metadata.element])),
        dataset: { dialog: "delete" },
        errorTitle: _("The snapshot was not deleted"),
        primary: {
            label: _("Delete"),
            danger: true,
            action: () => {
                const values = {};
                if (children.input.checked)
                    values.children = true;
                let ownTitle;
                if (childrenOnly.input.checked) {
                    values.children_only = true;
                    ownTitle = cockpit.format(_("Deleting the snapshots below “$0” of $1"), snapshot.name, domain.name);
                }
                if (metadata.input.checked)
                    values.metadata_only = true;
                return startJob(ctx, bus.remove(domain.name, snapshot.id, values), ownTitle);
            },
        },
    }).open();
}

/* ---- Delete all, Purge ---- */

export function deleteAllDialog(ctx) {
    const { domain } = ctx;
    const count = ctx.records.length;
    const intoOriginal = choice("checkbox", _("Merge into the original images"),
                               _("Each disk becomes its original image alone again, which takes the snapshots' data. Not possible for an image another VM also reads. Without it, each disk keeps at most one overlay above its original, which stays unchanged."),
                               { dataset: { field: "into_original" } });
    return new Modal({
        title: cockpit.format(_("Delete every snapshot of $0"), domain.name),
        body: h("div", {},
                h("p", { class: "vmsnap-delete-all-summary" },
                  cockpit.format(cockpit.ngettext("The $0 snapshot of $1 ($2) goes; the VM's disks keep exactly what they hold now.",
                                                  "All $0 snapshots of $1 ($2) go; the VM's disks keep exactly what they hold now.", count),
                                 count, domain.name, formatBytes(domain.snapshot_bytes || 0))),
                intoOriginal.element),
        size: "sm",
        dataset: { dialog: "delete-all" },
        errorTitle: _("The snapshots were not deleted"),
        primary: {
            label: _("Delete all"),
            danger: true,
            action: () => startJob(ctx, bus.deleteAll(domain.name, intoOriginal.input.checked ? { into_original: true } : {})),
        },
    }).open();
}

/* record: a ListDomains record with defined false; the job's Messages (the originals
 * kept) stay in the job list until dismissed. */
export function purgeDialog(ctx, record) {
    return new Modal({
        title: cockpit.format(_("Purge the snapshots of $0"), record.name),
        body: h("div", {},
                h("p", { class: "vmsnap-purge-summary" },
                  cockpit.format(cockpit.ngettext("libvirt no longer defines $0. Its $1 snapshot and every file vmsnap made for it ($2) are removed for good.",
                                                  "libvirt no longer defines $0. Its $1 snapshots and every file vmsnap made for them ($2) are removed for good.",
                                                  record.snapshot_count),
                                 record.name, record.snapshot_count, formatBytes(record.snapshot_bytes || 0))),
                h("p", {}, _("The original disk images, and any file another VM uses, are kept; the task lists them when it is done."))),
        size: "sm",
        dataset: { dialog: "purge" },
        errorTitle: _("The snapshots were not purged"),
        primary: {
            label: _("Purge"),
            danger: true,
            action: () => startJob(ctx, bus.purge(record.uuid, {})),
        },
    }).open();
}

/* ---- Edit: rename and description ---- */

export function editDialog(ctx, snapshot) {
    const { domain } = ctx;
    const name = textInput(snapshot.name, { "data-field": "name", maxlength: "255", "data-autofocus": true });
    const description = textArea(snapshot.description, { "data-field": "description" });
    return new Modal({
        title: cockpit.format(_("Edit snapshot $0"), quoted(snapshot.name)),
        body: h("div", {}, formGroup(_("Name"), name), formGroup(_("Description"), description)),
        dataset: { dialog: "edit" },
        errorTitle: _("The snapshot was not changed"),
        primary: {
            label: _("Save"),
            action: async () => {
                const newName = name.value.trim();
                if (description.value !== snapshot.description)
                    await bus.setDescription(domain.name, snapshot.id, description.value);
                if (newName !== snapshot.name)
                    await bus.rename(domain.name, snapshot.id, newName);
            },
        },
    }).open();
}

/* ---- Clone ---- */

function directoryOf(path) {
    const slash = path.lastIndexOf("/");
    return slash > 0 ? path.slice(0, slash) : "/";
}

/* "pool/image" or "pool/namespace/image" -> its pool, as the clone's rbd_pool takes it. */
function rbdPoolOf(image) {
    return image.slice(0, image.lastIndexOf("/"));
}

/* The snapshot's RBD disks, [{target, image: "pool/image"}]: the disks it includes that
 * GetConfiguration lists no image file for, each named by the <source protocol='rbd'>
 * of the configuration the snapshot recorded. */
function rbdDisksOf(snapshot, configuration, fileDisks) {
    const fileTargets = new Set(fileDisks.map(disk => disk.target));
    const images = new Map();
    const xml = new DOMParser().parseFromString(configuration.xml, "application/xml");
    for (const disk of xml.querySelectorAll("devices > disk")) {
        const source = disk.querySelector(":scope > source[protocol='rbd']");
        const target = disk.querySelector(":scope > target");
        if (source && target && source.getAttribute("name"))
            images.set(target.getAttribute("dev"), source.getAttribute("name"));
    }
    return (snapshot.disks || []).filter(target => !fileTargets.has(target) && images.has(target))
            .map(target => ({ target, image: images.get(target) }));
}

export function cloneDialog(ctx, snapshot) {
    const { domain } = ctx;
    const name = textInput(`copy_of_${domain.name}`, { "data-field": "name", "data-autofocus": true });
    const start = choice("checkbox", _("Start the new VM"), null, { dataset: { field: "start" } });
    const partial = snapshot.partial
        ? choice("checkbox", _("Clone without the missing disks"), _("A disk this snapshot recorded is gone."), { dataset: { field: "allow_partial" } })
        : null;
    const disksArea = h("div", { class: "vmsnap-clone-disks" }, spinner("lg"));
    const diskRows = [];
    const rbdRows = [];
    let linked = null; // only when the snapshot has RBD disks
    // vmsnapd names each copy <new name>-<target>.qcow2 (or .img for raw) in its directory,
    // and each RBD image <new name>-<target> in its pool.
    const newName = () => name.value.trim() || `copy_of_${domain.name}`;
    const showFileName = row => {
        row.file.textContent = cockpit.format(_("File: $0"), `${newName()}-${row.target}.${row.format.value === "raw" ? "img" : "qcow2"}`);
    };
    const showImageName = row => {
        row.file.textContent = cockpit.format(_("Image: $0"), `${row.pool.value.trim()}/${newName()}-${row.target}`);
    };
    name.addEventListener("input", () => {
        diskRows.forEach(showFileName);
        rbdRows.forEach(showImageName);
    });

    const description = h("span", {}, _("A new VM with its own copy of every disk as it was in this snapshot, each backing chain collapsed into one image."));
    const modal = new Modal({
        title: cockpit.format(_("Clone $0 from $1"), domain.name, quoted(snapshot.name)),
        description,
        body: h("div", {}, formGroup(_("Name of the new VM"), name), disksArea, start.element, partial ? partial.element : null),
        size: "lg",
        dataset: { dialog: "clone" },
        errorTitle: _("The clone did not start"),
        primary: {
            label: _("Clone"),
            action: () => {
                const disks = {};
                for (const row of diskRows) {
                    disks[row.target] = bus.variant("a{sv}", bus.options({
                        include: row.include.input.checked,
                        target_dir: row.directory.value.trim(),
                        format: row.format.value,
                    }));
                }
                for (const row of rbdRows) {
                    disks[row.target] = bus.variant("a{sv}", bus.options({
                        include: row.include.input.checked,
                        rbd_pool: row.pool.value.trim(),
                    }));
                }
                return startJob(ctx, bus.clone(domain.name, snapshot.id, name.value.trim(), {
                    disks: bus.variant("a{sv}", disks),
                    start: start.input.checked,
                    allow_partial: partial ? partial.input.checked : undefined,
                    linked: linked ? linked.input.checked : undefined,
                }));
            },
        },
    }).open();

    /* Each RBD disk becomes an image in the same cluster: in the snapshot image's pool
     * unless another is typed; linked or standalone applies to all of them. */
    function rbdDisksGroup(rbdDisks) {
        const table = h("table", { class: "pf-c-table pf-m-compact pf-m-grid-md vmsnap-clone-rbd-table", "aria-label": _("RBD disks of the clone") },
                        h("thead", {}, h("tr", {},
                                         h("th", { scope: "col" }, _("Disk")),
                                         h("th", { scope: "col" }, _("Image")),
                                         h("th", { scope: "col" }, _("Target pool")))),
                        h("tbody", {}, rbdDisks.map(disk => {
                            const include = choice("checkbox", disk.target, null, { checked: true, dataset: { target: disk.target } });
                            const pool = textInput(rbdPoolOf(disk.image), {
                                "aria-label": cockpit.format(_("Target pool of $0"), disk.target),
                                dataset: { target: disk.target, field: "rbd_pool" },
                            });
                            const file = h("p", { class: "pf-c-form__helper-text vmsnap-clone-file" });
                            const rbdRow = { target: disk.target, include, pool, file };
                            rbdRows.push(rbdRow);
                            pool.addEventListener("input", () => showImageName(rbdRow));
                            showImageName(rbdRow);
                            return h("tr", { dataset: { target: disk.target } },
                                     h("td", { "data-label": _("Disk") }, include.element),
                                     h("td", { "data-label": _("Image"), class: "vmsnap-clone-rbd-image" }, disk.image),
                                     h("td", { "data-label": _("Target pool") }, pool, file));
                        })));
        linked = choice("checkbox", _("Linked clone (copy-on-write, instant)"),
                        _("A standalone clone (the default) copies each RBD image in full as part of the task, with its progress, and depends on nothing afterwards. A linked clone is ready at once whatever the size, but reads what it has not changed from this snapshot, which Ceph keeps as long as the clone exists."),
                        { dataset: { field: "linked" } });
        return fieldset(_("RBD disks (Ceph)"), [table, linked.element]);
    }

    bus.getConfiguration(domain.name, snapshot.id).then(configuration => {
        const fileDisks = configuration.disks.filter(disk => !disk.image.startsWith("rbd:"));
        const rbdDisks = rbdDisksOf(snapshot, configuration, fileDisks);
        const table = h("table", { class: "pf-c-table pf-m-compact pf-m-grid-md vmsnap-clone-table", "aria-label": _("Disks of the clone") },
                        h("thead", {}, h("tr", {},
                                         h("th", { scope: "col" }, _("Disk")),
                                         h("th", { scope: "col" }, _("Size")),
                                         h("th", { scope: "col" }, _("Target directory")),
                                         h("th", { scope: "col" }, _("Format")))),
                        h("tbody", {}, fileDisks.map(disk => {
                            const include = choice("checkbox", disk.target, null, { checked: true, dataset: { target: disk.target } });
                            const directory = textInput(directoryOf(disk.image), {
                                "aria-label": cockpit.format(_("Target directory of $0"), disk.target),
                                dataset: { target: disk.target, field: "target_dir" },
                            });
                            const format = select([["qcow2", "qcow2"], ["raw", "raw"]], disk.format === "raw" ? "raw" : "qcow2", {
                                "aria-label": cockpit.format(_("Format of $0"), disk.target),
                                dataset: { target: disk.target, field: "format" },
                            });
                            const file = h("p", { class: "pf-c-form__helper-text vmsnap-clone-file" });
                            const diskRow = { target: disk.target, include, directory, format, file };
                            diskRows.push(diskRow);
                            format.addEventListener("change", () => showFileName(diskRow));
                            showFileName(diskRow);
                            return h("tr", { dataset: { target: disk.target } },
                                     h("td", { "data-label": _("Disk") }, include.element),
                                     h("td", { "data-label": _("Size") }, cockpit.format(_("$0, $1 allocated"), formatBytes(disk.virtual_size), formatBytes(disk.allocated))),
                                     h("td", { "data-label": _("Target directory") }, directory, file),
                                     h("td", { "data-label": _("Format") }, format));
                        })));
        const excluded = (snapshot.excluded || []).map(([target, reason]) => label(cockpit.format(_("$0 not in this snapshot ($1)"), target, reasonText(reason)), "grey"));
        if (rbdDisks.length)
            description.textContent = _("A new VM with every disk as it was in this snapshot: each file disk's backing chain collapsed into one image, each RBD disk cloned in its Ceph cluster.");
        replaceChildren(disksArea,
                        fileDisks.length || !rbdDisks.length ? fieldset(_("Disks"), table) : null,
                        rbdDisks.length ? rbdDisksGroup(rbdDisks) : null,
                        excluded.length ? h("div", { class: "vmsnap-markers" }, excluded) : null);
    }, error => {
        replaceChildren(disksArea, alert("danger", _("The snapshot's configuration could not be read"), h("p", {}, bus.errorSentence(error))));
    });
    return modal;
}
