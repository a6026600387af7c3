/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tree.js: a domain's snapshots as a tree (PatternFly's tree table, ARIA treegrid):
 * name with the current / in preview / locked / partial markers, description, time,
 * the VM's state when taken, disks included and excluded, memory, and the space its
 * frozen images take. A run of snapshots
 * each with one child (the usual chain) stays at one indentation level and only a fork
 * indents its branches, so 500 snapshots in a row do not walk off the screen. Keyboard
 * as in the WAI-ARIA treegrid pattern; selection follows focus. Only the rows near
 * the window are in the page. What to do with the selected snapshot is left to app.js. */
import { h, icon, label, formatTime, formatBytes, stateText } from "./dom.js";

const _ = cockpit.gettext;

/* The tree of ListSnapshots' records: nodes with parent and children, roots and
 * children in creation order. */
export function buildTree(records) {
    const nodes = new Map();
    for (const record of records)
        nodes.set(record.id, { record, parent: null, children: [] });
    const roots = [];
    for (const node of nodes.values()) {
        const parent = node.record.parent ? nodes.get(node.record.parent) : undefined;
        if (parent) {
            node.parent = parent;
            parent.children.push(node);
        } else {
            roots.push(node); // a root, or a parent we were not told about
        }
    }
    const byTime = (a, b) => a.record.created - b.record.created || a.record.name.localeCompare(b.record.name);
    roots.sort(byTime);
    for (const node of nodes.values())
        node.children.sort(byTime);
    return { nodes, roots };
}

/* The display rows in order: {node, level, continues (follows its parent at the same
 * level), fork (has two or more children)}. Iterative: chains may be thousands long. */
export function treeRows(tree) {
    const rows = [];
    const stack = [];
    for (let i = tree.roots.length - 1; i >= 0; i--)
        stack.push({ node: tree.roots[i], level: 1, continues: false });
    while (stack.length > 0) {
        const row = stack.pop();
        const children = row.node.children;
        row.fork = children.length > 1;
        rows.push(row);
        if (children.length === 1) {
            stack.push({ node: children[0], level: row.level, continues: true });
        } else {
            for (let i = children.length - 1; i >= 0; i--)
                stack.push({ node: children[i], level: row.level + 1, continues: false });
        }
    }
    // aria-posinset/setsize: rows of one level between two rows of a lower level.
    const open = []; // per level: the rows of the group being filled
    for (const row of rows) {
        open.length = Math.min(open.length, row.level); // leaving deeper groups
        while (open.length < row.level)
            open.push([]);
        const group = open[row.level - 1];
        group.push(row);
        row.group = group;
        row.posinset = group.length;
    }
    for (const row of rows) {
        row.setsize = row.group.length;
        delete row.group;
    }
    for (let i = 0; i < rows.length; i++)
        rows[i].hasSuccessor = i + 1 < rows.length && rows[i + 1].continues && rows[i + 1].node.parent === rows[i].node;
    return rows;
}

function disksCell(record) {
    const included = record.disks || [];
    const excluded = record.excluded || [];
    return h("td", { role: "gridcell", class: "vmsnap-disks", "data-label": _("Disks") },
             included.length ? h("span", { class: "vmsnap-disks-included" }, included.join(", "))
                 : h("span", { class: "vmsnap-muted" }, _("No disk")),
             excluded.map(([target, reason]) =>
                 h("div", { class: "vmsnap-excluded", dataset: { target } },
                   cockpit.format(_("$0 excluded: $1"), target, reason || _("not selected")))));
}

/* The tree draws only the rows near the window (and spacer rows for the rest), so
 * a tree of thousands of snapshots opens and follows changes as fast as one of
 * fifty: the browser lays out what can be seen, not the whole table. Rows keep
 * their measured heights, so scrolling over rows drawn before moves nothing. */
const OVERSCAN_PIXELS = 800; // drawn beyond each edge of the window, so scrolling rarely shows a gap
const ESTIMATED_ROW_PIXELS = 41; // until a row of the tree has been measured

/* What a snapshot's consistency means, for the state cell's tooltip. */
function consistencyText(consistency) {
    switch (consistency) {
    case "offline":
        return _("Taken while the VM was not running: its disks were at rest.");
    case "quiesced":
        return _("Quiesced: the guest agent froze the guest's file systems around it.");
    case "crash-consistent":
        return _("Crash-consistent: every disk at one instant, as after a power loss.");
    default:
        return null;
    }
}

export class SnapshotTree {
    /* onSelect(record or null) when the selection changes. */
    constructor(onSelect) {
        this.onSelect = onSelect;
        this.domain = null;
        this.rows = []; // every row, in order
        this.shown = []; // the rows outside collapsed forks: the tree's rows, of which some are drawn
        this.indexOf = new Map(); // id -> index in shown
        this.rowElements = new Map(); // id -> <tr>, made when first drawn
        this.heights = new Map(); // id -> measured height of its row, in pixels
        this.rowHeight = ESTIMATED_ROW_PIXELS; // what an unmeasured row is taken to need
        this.drawn = { start: 0, end: 0 }; // the rows in the body: shown[start..end)
        this.drawPending = false;
        this.collapsed = new Set(); // ids of collapsed forks, kept across refreshes
        this.selectedId = null;
        this.tabStop = null; // the row with tabindex 0
        this.inPreview = false;
        this.topSpacer = spacerRow("vmsnap-spacer-top");
        this.bottomSpacer = spacerRow("vmsnap-spacer-bottom");
        this.body = h("tbody", { role: "rowgroup", onkeydown: event => this.keydown(event) },
                      this.topSpacer, this.bottomSpacer);
        this.element = h("table", {
            class: "pf-c-table pf-m-tree-view pf-m-compact vmsnap-tree",
            role: "treegrid",
        },
        h("thead", {},
          h("tr", { role: "row", "aria-rowindex": "1" },
            h("th", { role: "columnheader", scope: "col", class: "pf-m-wrap vmsnap-col-name" }, _("Name")),
            h("th", { role: "columnheader", scope: "col", class: "pf-m-wrap vmsnap-col-description" }, _("Description")),
            h("th", { role: "columnheader", scope: "col", class: "pf-m-wrap vmsnap-col-time" }, _("Taken")),
            h("th", { role: "columnheader", scope: "col", class: "pf-m-wrap vmsnap-col-state" }, _("VM state")),
            h("th", { role: "columnheader", scope: "col", class: "pf-m-wrap vmsnap-col-disks" }, _("Disks")),
            h("th", { role: "columnheader", scope: "col", class: "pf-m-wrap vmsnap-col-memory" }, _("Memory")),
            h("th", { role: "columnheader", scope: "col", class: "pf-m-wrap vmsnap-col-size" }, _("Size")))),
        this.body);
        // Whatever scrolls the tree (the page's main area, or the window): scroll
        // events do not bubble, but they pass the document on their way down.
        document.addEventListener("scroll", () => this.scheduleDraw(), { capture: true, passive: true });
        window.addEventListener("resize", () => {
            this.heights.clear(); // rows wrap differently at another width
            this.scheduleDraw();
        });
    }

    get selected() {
        const node = this.tree && this.tree.nodes.get(this.selectedId);
        return node ? node.record : null;
    }

    /* Replaces the rows with records (ListSnapshots of domain); keeps selection,
     * collapsed forks and keyboard focus where the snapshots still exist. */
    update(domain, records, inPreview) {
        const hadFocus = this.body.contains(document.activeElement);
        if (domain.uuid !== this.domain) {
            this.collapsed.clear();
            this.selectedId = null;
        }
        this.domain = domain.uuid;
        this.inPreview = inPreview;
        this.element.setAttribute("aria-label", cockpit.format(_("Snapshots of $0"), domain.name));
        this.tree = buildTree(records);
        this.rows = treeRows(this.tree);
        if (this.selectedId && !this.tree.nodes.has(this.selectedId))
            this.selectedId = null;
        if (this.selectedId === null) {
            const current = records.find(record => record.current);
            this.selectedId = current ? current.id : null;
        }
        for (const id of this.collapsed) {
            if (!this.tree.nodes.has(id))
                this.collapsed.delete(id);
        }
        // A row whose snapshot and place in the tree did not change keeps its element
        // (and its height): a click, hover or focus on it survives a refresh, and a
        // change to one snapshot redraws one row.
        const elements = this.rowElements;
        const heights = this.heights;
        this.rowElements = new Map();
        this.heights = new Map();
        for (const row of this.rows) {
            const id = row.node.record.id;
            const element = elements.get(id);
            if (element && element.vmsnapKey === rowKey(row, inPreview)) {
                this.rowElements.set(id, element);
                if (heights.has(id))
                    this.heights.set(id, heights.get(id));
            }
        }
        if (this.tabStop)
            this.tabStop.tabIndex = -1;
        this.tabStop = null;
        this.applyCollapsed();
        this.updateSelection(hadFocus);
        this.scheduleDraw(); // again once the table is in the page, if it was not yet
        this.onSelect(this.selected);
    }

    /* ---- drawing the rows near the window ---- */

    scheduleDraw() {
        if (this.drawPending)
            return;
        this.drawPending = true;
        requestAnimationFrame(() => {
            this.drawPending = false;
            this.draw();
        });
    }

    heightOf(index) {
        return this.heights.get(this.shown[index].node.record.id) || this.rowHeight;
    }

    /* Where shown[index] starts, in pixels below the top of the body. */
    offsetOf(index) {
        let y = 0;
        for (let i = 0; i < index; i++)
            y += this.heightOf(i);
        return y;
    }

    /* The element that scrolls the tree up and down: its nearest ancestor that can. */
    scroller() {
        for (let element = this.element.parentElement; element; element = element.parentElement) {
            const overflow = getComputedStyle(element).overflowY;
            if ((overflow === "auto" || overflow === "scroll") && element.scrollHeight > element.clientHeight)
                return element;
        }
        return document.scrollingElement;
    }

    /* Puts the rows between the window's edges (plus OVERSCAN_PIXELS) in the body and
     * sizes the spacers for the others. Rows that stay are not touched. */
    draw() {
        const count = this.shown.length;
        const top = this.element.isConnected ? this.body.getBoundingClientRect().top : 0;
        const from = -top - OVERSCAN_PIXELS;
        const to = -top + window.innerHeight + OVERSCAN_PIXELS;
        let start = 0;
        let y = 0;
        while (start < count && y + this.heightOf(start) <= from)
            y += this.heightOf(start++);
        const above = y;
        let end = start;
        while (end < count && y < to)
            y += this.heightOf(end++);

        const { start: oldStart, end: oldEnd } = this.drawn;
        const focused = this.body.contains(document.activeElement) ? document.activeElement : null;
        for (let i = oldStart; i < oldEnd; i++) {
            if (i < start || i >= end)
                this.rowElements.get(this.shown[i].node.record.id).remove();
        }
        const before = [];
        for (let i = start; i < Math.min(oldStart, end); i++)
            before.push(this.rowAt(i));
        const after = [];
        for (let i = Math.max(oldEnd, start); i < end; i++)
            after.push(this.rowAt(i));
        this.topSpacer.after(...before);
        this.bottomSpacer.before(...after);
        this.drawn = { start, end };
        if (focused && focused.isConnected && document.activeElement !== focused)
            focused.focus({ preventScroll: true });
        this.updateTabStop();

        // Measure the drawn rows not measured yet (one layout of the drawn rows only);
        // the first ones measured set the estimate for the others.
        const measured = [];
        if (this.element.isConnected) {
            for (let i = start; i < end; i++) {
                const id = this.shown[i].node.record.id;
                if (!this.heights.has(id)) {
                    const height = this.rowElements.get(id).getBoundingClientRect().height;
                    this.heights.set(id, height);
                    measured.push(height);
                }
            }
        }
        if (this.rowHeight === ESTIMATED_ROW_PIXELS && measured.length > 0) {
            measured.sort((a, b) => a - b);
            this.rowHeight = measured[measured.length >> 1] || ESTIMATED_ROW_PIXELS;
        }
        let below = 0;
        for (let i = end; i < count; i++)
            below += this.heightOf(i);
        setSpacer(this.topSpacer, above);
        setSpacer(this.bottomSpacer, below);
    }

    /* Takes every drawn row out, for a new list of shown rows. */
    clearDrawn() {
        for (const element of Array.from(this.body.rows)) {
            if (element !== this.topSpacer && element !== this.bottomSpacer)
                element.remove();
        }
        this.drawn = { start: 0, end: 0 };
    }

    /* The <tr> of shown[index], made on first use, with the tree's current state. */
    rowAt(index) {
        const row = this.shown[index];
        const id = row.node.record.id;
        let element = this.rowElements.get(id);
        if (!element) {
            element = this.renderRow(row, this.inPreview);
            element.vmsnapKey = rowKey(row, this.inPreview);
            this.rowElements.set(id, element);
            this.showSelected(element, id === this.selectedId);
            this.showCollapsed(row, element);
        }
        element.setAttribute("aria-rowindex", String(index + 2)); // the header is row 1
        return element;
    }

    /* Makes sure shown[index] is in the body, scrolling the window to it if it is far. */
    reveal(index) {
        if (index >= this.drawn.start && index < this.drawn.end)
            return this.rowAt(index);
        if (this.element.isConnected) {
            const top = this.body.getBoundingClientRect().top;
            this.scroller().scrollBy(0, top + this.offsetOf(index) - window.innerHeight / 2);
        }
        this.draw();
        return index >= this.drawn.start && index < this.drawn.end ? this.rowAt(index) : null;
    }

    renderRow(row, inPreview) {
        const record = row.node.record;
        const markers = [];
        const previewed = record.in_preview !== undefined ? record.in_preview : (inPreview && record.current);
        if (previewed)
            markers.push(label(_("in preview"), "orange", { class: "pf-c-label pf-m-compact pf-m-orange vmsnap-marker-preview" }));
        else if (record.current)
            markers.push(label(_("current"), "blue", { class: "pf-c-label pf-m-compact pf-m-blue vmsnap-marker-current" }));
        if (record.locked)
            markers.push(h("span", { class: "pf-c-label pf-m-compact vmsnap-marker-locked", title: _("Locked while a clone copies it") },
                           h("span", { class: "pf-c-label__content" },
                             h("span", { class: "pf-c-label__icon" }, icon("locked")), _("locked while cloning"))));
        if (record.partial)
            markers.push(label(_("partial"), "gold", { class: "pf-c-label pf-m-compact pf-m-gold vmsnap-marker-partial", title: _("A disk this snapshot recorded is gone") }));

        const toggle = row.fork
            ? h("span", { class: "pf-c-table__toggle" },
                h("button", {
                    type: "button",
                    class: "pf-c-button pf-m-plain",
                    tabindex: "-1",
                    "aria-label": cockpit.format(_("Show or hide the branches of $0"), record.name),
                    onclick: event => {
                        event.stopPropagation();
                        this.setCollapsed(record.id, !this.collapsed.has(record.id));
                    },
                }, h("span", { class: "pf-c-table__toggle-icon" }, icon("toggle"))))
            : null;

        const classes = ["vmsnap-row", "pf-m-hoverable"];
        if (row.continues)
            classes.push("vmsnap-continues");
        if (row.hasSuccessor)
            classes.push("vmsnap-has-successor");
        if (record.current)
            classes.push("vmsnap-current");

        return h("tr", {
            role: "row",
            class: classes.join(" "),
            tabindex: "-1",
            "aria-level": String(row.level),
            "aria-posinset": String(row.posinset),
            "aria-setsize": String(row.setsize),
            "aria-expanded": row.fork ? "true" : null,
            "aria-selected": "false",
            dataset: { id: record.id, name: record.name, level: String(row.level) },
            onclick: () => this.select(record.id, true),
        },
        h("th", { role: "rowheader", class: "pf-c-table__tree-view-title-cell vmsnap-col-name", scope: "row" },
          h("div", { class: "pf-c-table__tree-view-main" },
            toggle,
            h("span", { class: "pf-c-table__tree-view-icon vmsnap-node", "aria-hidden": "true" }),
            h("div", { class: "pf-c-table__tree-view-text" },
              h("span", { class: "pf-c-table__text vmsnap-name" }, record.name),
              markers.length ? h("span", { class: "vmsnap-markers" }, markers) : null))),
        h("td", { role: "gridcell", class: "vmsnap-description", "data-label": _("Description") }, record.description),
        h("td", { role: "gridcell", class: "vmsnap-time", "data-label": _("Taken") }, formatTime(record.created)),
        h("td", {
            role: "gridcell",
            class: "vmsnap-state",
            "data-label": _("VM state"),
            dataset: { consistency: record.consistency || "" },
            title: consistencyText(record.consistency),
        }, stateText(record.state)),
        disksCell(record),
        h("td", { role: "gridcell", class: "vmsnap-memory", "data-label": _("Memory") },
          record.memory ? _("Saved") : h("span", { class: "vmsnap-muted" }, _("No"))),
        h("td", {
            role: "gridcell",
            class: "vmsnap-size",
            "data-label": _("Size"),
            title: record.size === undefined ? null : cockpit.format(_("Deleting it frees about $0"), formatBytes(record.reclaimable || 0)),
        }, record.size === undefined ? "" : formatBytes(record.size)));
    }

    /* ---- expanding and collapsing ---- */

    setCollapsed(id, collapsed) {
        if (collapsed)
            this.collapsed.add(id);
        else
            this.collapsed.delete(id);
        const hadFocus = this.body.contains(document.activeElement);
        this.applyCollapsed();
        if (!this.indexOf.has(this.selectedId))
            this.select(id, true); // the selection was inside what just closed
        else if (hadFocus)
            this.updateSelection(true);
    }

    /* The shown rows: every row not inside a collapsed fork. Drawn again from here. */
    applyCollapsed() {
        this.clearDrawn();
        this.shown = [];
        this.indexOf.clear();
        let hideBelow = Infinity; // rows deeper than this level are inside a collapsed fork
        for (const row of this.rows) {
            if (row.level <= hideBelow)
                hideBelow = Infinity;
            if (row.level > hideBelow)
                continue;
            this.indexOf.set(row.node.record.id, this.shown.length);
            this.shown.push(row);
            if (row.fork && this.collapsed.has(row.node.record.id))
                hideBelow = row.level;
        }
        for (const row of this.rows) {
            const element = this.rowElements.get(row.node.record.id);
            if (element)
                this.showCollapsed(row, element);
        }
        this.element.setAttribute("aria-rowcount", String(this.shown.length + 1));
        this.draw();
    }

    showCollapsed(row, element) {
        if (!row.fork)
            return;
        const collapsed = this.collapsed.has(row.node.record.id);
        element.setAttribute("aria-expanded", String(!collapsed));
        element.querySelector(".pf-c-table__toggle .pf-c-button").classList.toggle("pf-m-expanded", !collapsed);
    }

    /* ---- selection and focus ---- */

    select(id, focus) {
        this.selectedId = id;
        this.updateSelection(focus);
        this.onSelect(this.selected);
    }

    showSelected(element, selected) {
        element.setAttribute("aria-selected", String(selected));
        element.classList.toggle("pf-m-selected", selected);
    }

    /* The one stop of the tree in the tab order: the selected row, or the first drawn
     * row while the selected one is not drawn (or nothing is selected). */
    updateTabStop() {
        const selected = this.indexOf.get(this.selectedId);
        let stop = null;
        if (selected !== undefined && selected >= this.drawn.start && selected < this.drawn.end)
            stop = this.rowAt(selected);
        else if (this.drawn.end > this.drawn.start)
            stop = this.rowAt(this.drawn.start);
        if (stop === this.tabStop)
            return;
        if (this.tabStop)
            this.tabStop.tabIndex = -1;
        this.tabStop = stop;
        if (stop)
            stop.tabIndex = 0;
    }

    /* Marks the selected row; with focus, draws it if it is not and focuses it. */
    updateSelection(focus) {
        for (const [id, element] of this.rowElements)
            this.showSelected(element, id === this.selectedId);
        const index = this.indexOf.get(this.selectedId);
        if (focus && index !== undefined) {
            const element = this.reveal(index);
            this.updateTabStop();
            if (element)
                element.focus();
        } else {
            this.updateTabStop();
        }
    }

    keydown(event) {
        const rowElement = event.target.closest("tr");
        if (!rowElement || event.target !== rowElement || event.altKey || event.ctrlKey || event.metaKey)
            return;
        const id = rowElement.dataset.id;
        const index = this.indexOf.get(id);
        const node = this.tree.nodes.get(id);
        if (index === undefined || !node)
            return;
        const isFork = node.children.length > 1;
        const page = Math.max(1, Math.floor(window.innerHeight / this.rowHeight) - 1);
        const last = this.shown.length - 1;
        let target = null; // an index in shown

        switch (event.key) {
        case "ArrowDown":
            target = Math.min(index + 1, last);
            break;
        case "ArrowUp":
            target = Math.max(index - 1, 0);
            break;
        case "PageDown":
            target = Math.min(index + page, last);
            break;
        case "PageUp":
            target = Math.max(index - page, 0);
            break;
        case "Home":
            target = 0;
            break;
        case "End":
            target = last;
            break;
        case "ArrowRight":
            if (isFork && this.collapsed.has(id))
                this.setCollapsed(id, false);
            else if (node.children.length > 0)
                target = this.indexOf.get(node.children[0].record.id);
            break;
        case "ArrowLeft":
            if (isFork && !this.collapsed.has(id))
                this.setCollapsed(id, true);
            else if (node.parent)
                target = this.indexOf.get(node.parent.record.id);
            break;
        default:
            return;
        }
        event.preventDefault();
        if (target !== null && target !== undefined && target !== index)
            this.select(this.shown[target].node.record.id, true);
    }
}

/* What a row's element is drawn from: equal keys, equal rows. */
function rowKey(row, inPreview) {
    return JSON.stringify([row.node.record, row.level, row.posinset, row.setsize, !!row.fork, !!row.continues,
                           !!row.hasSuccessor, !!inPreview]);
}

function spacerRow(className) {
    return h("tr", { class: `vmsnap-spacer ${className}`, "aria-hidden": "true" },
             h("td", { colspan: "7" }));
}

function setSpacer(spacer, height) {
    spacer.hidden = height <= 0;
    spacer.firstChild.style.blockSize = `${height}px`;
}
