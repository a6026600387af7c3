/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* model.h: the in-memory snapshot model of one domain, as the metadata store
 * persists it. Plain data with constructors, lookups and tree helpers; no I/O.
 * Operations (create.c, preview.c, delete.c, ...) change it; store.c saves it. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vmsnap_disk_entry {
        char *target;          /* vda */
        char *image;           /* frozen image (absolute path); NULL for an RBD disk or when excluded */
        char *format;          /* "qcow2" or "raw"; NULL for an RBD disk or when excluded */
        char *rbd_snapshot;    /* an RBD disk's frozen state: "pool[/namespace]/image@snapshot" */
        char *excluded_reason; /* NULL when included */
} vmsnap_disk_entry;

/* A snapshot's consistency. Offline: taken while the domain was not running, so its disks
 * were at rest. Quiesced: the guest agent froze the guest's file systems around it.
 * Crash-consistent: every disk taken at one instant without the guest's help, as after a
 * power loss; a snapshot with memory resumes from that same instant. */
#define VMSNAP_CONSISTENCY_OFFLINE "offline"
#define VMSNAP_CONSISTENCY_QUIESCED "quiesced"
#define VMSNAP_CONSISTENCY_CRASH "crash-consistent"

typedef struct vmsnap_snapshot {
        char *id; /* UUID text */
        char *name;
        char *description;
        int64_t created; /* unix seconds */
        char *parent_id; /* NULL for a root */
        char *state;     /* running, paused, shutoff */
        char *config_xml;
        vmsnap_disk_entry *disks;
        size_t n_disks;
        char *memory_file; /* NULL when none */
        /* How consistent the disks are with each other and with the guest's file systems
         * (one of VMSNAP_CONSISTENCY_*); NULL in snapshots taken before vmsnap recorded it. */
        char *consistency;
        /* How many models hold this record (vmsnap_domain_meta_copy shares records): one
         * held by more than one is never changed, only replaced by a copy of its own
         * (vmsnap_domain_meta_writable). */
        unsigned refs;
} vmsnap_snapshot;

/* One disk of a running preview. */
typedef struct vmsnap_preview_disk {
        char *target;
        char *overlay;    /* the temporary overlay the domain now uses; NULL for a disk left as it was */
        char *saved_leaf; /* the leaf the domain used before the preview; NULL for an RBD disk */
        char *saved_format;
        char *snapshot_id; /* whose state the disk shows; NULL when it keeps its current state */
        /* An RBD disk: the image it read before the preview ("pool[/namespace]/image"), and
         * the copy-on-write clone of the snapshot it reads now (NULL when it keeps its state). */
        char *rbd_saved;
        char *rbd_overlay;
} vmsnap_preview_disk;

typedef struct vmsnap_preview {
        char *config_snapshot_id;
        char *saved_xml;        /* domain XML before the preview */
        char *saved_current_id; /* current snapshot before the preview, NULL if none */
        vmsnap_preview_disk *disks;
        size_t n_disks;
} vmsnap_preview;

typedef struct vmsnap_domain_meta {
        char *uuid;
        char *name;       /* last known name, for people reading the file */
        char *current_id; /* NULL when no current snapshot */
        vmsnap_snapshot **snapshots;
        size_t n_snapshots;
        char **owned; /* absolute paths of image files vmsnap created and may change or delete */
        size_t n_owned;
        /* Absolute paths of images vmsnap created and a metadata-only delete left to the
         * administrator: vmsnap never writes into or removes them, nor any file they read
         * through (guard.h). A record goes once its file is gone (gc.c). */
        char **forgotten;
        size_t n_forgotten;
        vmsnap_preview *preview;     /* NULL when no preview runs */
        json_object *intent;         /* an unfinished multi-step operation, NULL when none */
        unsigned next_default_index; /* for default names "snapshot-N" */
        /* How many times the store wrote the document (0: never, or by a vmsnap that did not
         * count); the intent journal names the generation each intent goes with (store.h). */
        uint64_t generation;
} vmsnap_domain_meta;

vmsnap_domain_meta *vmsnap_domain_meta_new(const char *uuid, const char *name);
void vmsnap_domain_meta_free(vmsnap_domain_meta *meta);
/* A copy whose changes leave meta as it is, the intent included. The snapshot records are
 * shared, not copied (a copy of a tree of 1,000 costs 1,000 references): a record is
 * changed only through vmsnap_domain_meta_writable, which first gives the model a copy of
 * its own when another holds it. */
vmsnap_domain_meta *vmsnap_domain_meta_copy(const vmsnap_domain_meta *meta);
/* The snapshot with id, to change: a record of meta's own. NULL when absent. */
vmsnap_snapshot *vmsnap_domain_meta_writable(vmsnap_domain_meta *meta, const char *id);

vmsnap_snapshot *vmsnap_snapshot_new(void);
/* Drops one hold of snapshot; the last frees it. */
void vmsnap_snapshot_free(vmsnap_snapshot *snapshot);
/* A deep copy, held once. */
vmsnap_snapshot *vmsnap_snapshot_copy(const vmsnap_snapshot *snapshot);
/* One hold more of snapshot, which from now on does not change (its holders replace it
 * instead): the same pointer then means the same record. */
vmsnap_snapshot *vmsnap_snapshot_hold(const vmsnap_snapshot *snapshot);
/* Whether a and b hold the same record, field by field. */
bool vmsnap_snapshot_equal(const vmsnap_snapshot *a, const vmsnap_snapshot *b);
/* Appends a disk entry; image/format NULL and reason non-NULL for an excluded disk. */
void vmsnap_snapshot_add_disk(vmsnap_snapshot *snapshot, const char *target, const char *image,
                              const char *format, const char *excluded_reason);
/* An RBD disk whose frozen state is the RBD snapshot rbd_snapshot (rbd-disk.h). */
void vmsnap_snapshot_add_rbd_disk(vmsnap_snapshot *snapshot, const char *target, const char *rbd_snapshot);
/* Whether any disk of the snapshot is an RBD one. */
bool vmsnap_snapshot_has_rbd_disk(const vmsnap_snapshot *snapshot);
const vmsnap_disk_entry *vmsnap_snapshot_find_disk(const vmsnap_snapshot *snapshot, const char *target);

void vmsnap_preview_free(vmsnap_preview *preview);

/* Takes ownership of snapshot. */
void vmsnap_domain_meta_add_snapshot(vmsnap_domain_meta *meta, vmsnap_snapshot *snapshot);
/* Removes and frees the snapshot with this id; returns false if absent. */
bool vmsnap_domain_meta_remove_snapshot(vmsnap_domain_meta *meta, const char *id);
vmsnap_snapshot *vmsnap_domain_meta_find_id(const vmsnap_domain_meta *meta, const char *id);
vmsnap_snapshot *vmsnap_domain_meta_find_name(const vmsnap_domain_meta *meta, const char *name);
/* The indexes of meta's snapshots sorted by id (free() them), and the one binary search over
 * them: the index of the snapshot with id, or SIZE_MAX (also for a NULL id). For the callers
 * that look up many ids at once in a large tree. */
size_t *vmsnap_domain_meta_sort_by_id(const vmsnap_domain_meta *meta);
size_t vmsnap_domain_meta_find_sorted(const vmsnap_domain_meta *meta, const size_t *by_id, const char *id);
/* The one rule for naming a snapshot: text that parses as a UUID (vmsnap_uuid_parse, any
 * spelling) is taken as an id first; only when no snapshot has that id, as a name. */
vmsnap_snapshot *vmsnap_domain_meta_find(const vmsnap_domain_meta *meta, const char *id_or_name);
/* Number of direct children of id (NULL: roots) and, when ret is non-NULL, them. */
size_t vmsnap_domain_meta_children(const vmsnap_domain_meta *meta, const char *id, vmsnap_snapshot ***ret);
/* True if id equals ancestor_id or descends from it. */
bool vmsnap_domain_meta_descends(const vmsnap_domain_meta *meta, const char *id, const char *ancestor_id);

bool vmsnap_domain_meta_owns(const vmsnap_domain_meta *meta, const char *path);
void vmsnap_domain_meta_add_owned(vmsnap_domain_meta *meta, const char *path);
void vmsnap_domain_meta_remove_owned(vmsnap_domain_meta *meta, const char *path);
void vmsnap_domain_meta_add_forgotten(vmsnap_domain_meta *meta, const char *path);
void vmsnap_domain_meta_remove_forgotten(vmsnap_domain_meta *meta, const char *path);
