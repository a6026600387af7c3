/* tree.js: a domain's snapshots as a tree (PatternFly's tree table, ARIA treegrid):
 * name with the current / in preview / locked / partial markers, description, time,
 * the VM's state when taken, disks included and excluded, memory. A run of snapshots
 * each with one child (the usual chain) stays at one indentation level and only a fork
 * indents its branches, so 500 snapshots in a row do not walk off the screen. Keyboard
 * as in the WAI-ARIA treegrid pattern; selection follows focus. What to do with the
 * selected snapshot is left to app.js. */
import { h, icon, label, replaceChildren, formatTime, stateText } from "./dom.js";

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

export class SnapshotTree {
    /* onSelect(record or null) when the selection changes. */
    constructor(onSelect) {
        this.onSelect = onSelect;
        this.domain = null;
        this.rows = [];
        this.rowElements = new Map(); // id -> <tr>
        this.collapsed = new Set(); // ids of collapsed forks, kept across refreshes
        this.selectedId = null;
        this.body = h("tbody", { role: "rowgroup", onkeydown: event => this.keydown(event) });
        this.element = h("table", {
            class: "pf-c-table pf-m-tree-view pf-m-compact vmsnap-tree",
            role: "treegrid",
        },
        h("thead", {},
          h("tr", { role: "row" },
            h("th", { role: "columnheader", scope: "col", class: "pf-m-wrap vmsnap-col-name" }, _("Name")),
            h("th", { role: "columnheader", scope: "col", class: "pf-m-wrap vmsnap-col-description" }, _("Description")),
            h("th", { role: "columnheader", scope: "col", class: "pf-m-wrap vmsnap-col-time" }, _("Taken")),
            h("th", { role: "columnheader", scope: "col", class: "pf-m-wrap vmsnap-col-state" }, _("VM state")),
            h("th", { role: "columnheader", scope: "col", class: "pf-m-wrap vmsnap-col-disks" }, _("Disks")),
            h("th", { role: "columnheader", scope: "col", class: "pf-m-wrap vmsnap-col-memory" }, _("Memory")))),
        this.body);
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
        this.element.setAttribute("aria-label", cockpit.format(_("Snapshots of $0"), domain.name));
        this.tree = buildTree(records);
        this.rows = treeRows(this.tree);
        if (this.selectedId && !this.tree.nodes.has(this.selectedId))
            this.selectedId = null;
        if (this.selectedId === null) {
            const current = records.find(record => record.current);
            this.selectedId = current ? current.id : null;
        }

        const fragment = document.createDocumentFragment();
        this.rowElements.clear();
        for (const row of this.rows) {
            const element = this.renderRow(row, inPreview);
            this.rowElements.set(row.node.record.id, element);
            fragment.append(element);
        }
        replaceChildren(this.body, fragment);
        this.applyCollapsed();
        this.updateSelection(hadFocus);
        this.onSelect(this.selected);
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
        h("td", { role: "gridcell", class: "vmsnap-state", "data-label": _("VM state") }, stateText(record.state)),
        disksCell(record),
        h("td", { role: "gridcell", class: "vmsnap-memory", "data-label": _("Memory") },
          record.memory ? _("Saved") : h("span", { class: "vmsnap-muted" }, _("No"))));
    }

    /* ---- expanding and collapsing ---- */

    setCollapsed(id, collapsed) {
        if (collapsed)
            this.collapsed.add(id);
        else
            this.collapsed.delete(id);
        this.applyCollapsed();
        const selectedElement = this.rowElements.get(this.selectedId);
        if (selectedElement && selectedElement.hidden)
            this.select(id, true); // the selection was inside what just closed
    }

    applyCollapsed() {
        let hideBelow = Infinity; // rows deeper than this level are inside a collapsed fork
        for (const row of this.rows) {
            const element = this.rowElements.get(row.node.record.id);
            if (row.level <= hideBelow)
                hideBelow = Infinity;
            element.hidden = row.level > hideBelow;
            if (row.fork) {
                const collapsed = this.collapsed.has(row.node.record.id);
                element.setAttribute("aria-expanded", String(!collapsed));
                element.querySelector(".pf-c-table__toggle .pf-c-button").classList.toggle("pf-m-expanded", !collapsed);
                if (!element.hidden && collapsed)
                    hideBelow = row.level;
            }
        }
    }

    /* ---- selection and focus ---- */

    select(id, focus) {
        this.selectedId = id;
        this.updateSelection(focus);
        this.onSelect(this.selected);
    }

    updateSelection(focus) {
        let focusable = null;
        for (const [id, element] of this.rowElements) {
            const selected = id === this.selectedId;
            element.setAttribute("aria-selected", String(selected));
            element.classList.toggle("pf-m-selected", selected);
            element.tabIndex = -1;
            if (selected)
                focusable = element;
        }
        if (focusable === null)
            focusable = this.visibleRows()[0] || null;
        if (focusable !== null) {
            focusable.tabIndex = 0; // the one stop of the tree in the tab order
            if (focus)
                focusable.focus();
        }
    }

    visibleRows() {
        return Array.from(this.body.rows).filter(row => !row.hidden);
    }

    keydown(event) {
        const rowElement = event.target.closest("tr");
        if (!rowElement || event.target !== rowElement || event.altKey || event.ctrlKey || event.metaKey)
            return;
        const visible = this.visibleRows();
        const index = visible.indexOf(rowElement);
        const id = rowElement.dataset.id;
        const node = this.tree.nodes.get(id);
        const isFork = node.children.length > 1;
        let target = null;

        switch (event.key) {
        case "ArrowDown":
            target = visible[index + 1];
            break;
        case "ArrowUp":
            target = visible[index - 1];
            break;
        case "Home":
            target = visible[0];
            break;
        case "End":
            target = visible[visible.length - 1];
            break;
        case "ArrowRight":
            if (isFork && this.collapsed.has(id))
                this.setCollapsed(id, false);
            else if (node.children.length > 0)
                target = this.rowElements.get(node.children[0].record.id);
            break;
        case "ArrowLeft":
            if (isFork && !this.collapsed.has(id))
                this.setCollapsed(id, true);
            else if (node.parent)
                target = this.rowElements.get(node.parent.record.id);
            break;
        default:
            return;
        }
        event.preventDefault();
        if (target && !target.hidden)
            this.select(target.dataset.id, true);
    }
}
