/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* op.h: the operation object. An operation runs inside a vmsnap_op, which holds its
 * domain's lock and owns the working copy of the metadata until it is saved; it begins
 * with vmsnap_op_begin (begin.h), which recovers what a crash interrupted, and ends with
 * vmsnap_op_end. */
#pragma once

#include "engine.h"
#include "failpoint.h"

/* A file an image a metadata-only delete left to the administrator reads (guard.h). */
typedef struct vmsnap_forgotten_read {
        char *path; /* canonical */
        char *forgotten;
} vmsnap_forgotten_read;

/* One file disk of the domain as it is now. */
typedef struct vmsnap_active_disk {
        char *target;
        char *source; /* canonical path */
        char *format;
} vmsnap_active_disk;

/* Something an operation keeps for its whole life under a key (vmsnap_op_keep). */
typedef struct vmsnap_op_kept {
        char *key;
        void *value;
        void (*release)(void *value);
} vmsnap_op_kept;

typedef struct vmsnap_op {
        vmsnap_engine *engine;
        vmsnap_domain_slot *slot;
        virDomainPtr domain;
        char *name;             /* the domain's name now */
        char *xml;              /* inactive XML now */
        vmsnap_xml_disk *disks; /* every disk of xml */
        size_t n_disks;
        vmsnap_domain_meta *meta; /* working copy; saved by vmsnap_op_save */
        const vmsnap_hooks *hooks;
        vmsnap_error *error;
        char **foreign_images; /* canonical paths in other domains' chains; loaded on demand */
        size_t n_foreign_images;
        bool foreign_loaded;
        vmsnap_forgotten_read *forgotten_reads; /* loaded on demand */
        size_t n_forgotten_reads;
        bool forgotten_loaded;
        bool crashed;    /* a test failpoint fired: skip every cleanup, as a real crash would */
        bool saved;      /* the metadata was written: watchers hear of it when the op ends */
        bool recovering; /* its messages are also the engine's log (vmsnap_engine_set_log) */
        bool purged;     /* recovery completed a purge: the domain's metadata is gone */
        struct vmsnap_shared_tree *shared; /* the domain's tree in its cluster (shared-tree.h) */
        vmsnap_op_kept *kept;              /* vmsnap_op_keep */
        size_t n_kept;
} vmsnap_op;

/* What the operation keeps under key (NULL: nothing yet), and keeping value under key for
 * the rest of the operation: released with release(value) when it ends. One connection to
 * a cluster serves every disk the operation reaches there (rbd-disk.c). */
void *vmsnap_op_kept_value(const vmsnap_op *op, const char *key);
void vmsnap_op_keep(vmsnap_op *op, const char *key, void *value, void (*release)(void *value));
/* Releases what the operation kept: vmsnap_op_end does; so does whoever made an op
 * without vmsnap_op_begin. */
void vmsnap_op_kept_release(vmsnap_op *op);

/* Writes op->meta to the store and publishes it to readers. */
int vmsnap_op_save(vmsnap_op *op);
/* Writes only op->meta->intent (store.h), for a step that leaves the model on disk as it
 * is: the model changes of the operation are saved once, by vmsnap_op_save at its
 * commit point. Readers go on seeing the model last saved, with this intent. */
int vmsnap_op_save_intent(vmsnap_op *op);
/* Re-reads the domain XML after a change of definition. */
int vmsnap_op_reload_xml(vmsnap_op *op);
/* Defines xml as the domain's persistent configuration and reloads it. */
int vmsnap_op_define(vmsnap_op *op, const char *xml);
/* Publishes what the operation saved, releases the domain's lock and frees op. */
void vmsnap_op_end(vmsnap_op *op);
/* Frees what the guard's questions (guard.h) loaded into op, so that the next one reads
 * the chains again. */
void vmsnap_op_guard_clear(vmsnap_op *op);
/* Reports progress/messages through the hooks; checks cancellation. */
void vmsnap_op_progress(vmsnap_op *op, uint64_t done, uint64_t total);
/* count steps of equal weight, step index running: the userdata of hooks whose progress is
 * vmsnap_op_step_progress, which reports the steps done plus the fraction of this one. */
typedef struct vmsnap_op_steps {
        vmsnap_op *op;
        size_t index, count;
} vmsnap_op_steps;
void vmsnap_op_step_progress(void *steps, uint64_t done, uint64_t total);
void vmsnap_op_message(vmsnap_op *op, const char *format, ...) __attribute__((format(printf, 2, 3)));
bool vmsnap_op_canceled(vmsnap_op *op);
/* Tells the hooks that the operation's intent is saved with its finish phase: it
 * completes from here, also after a crash, so cancelling can no longer stop it. */
void vmsnap_op_past_point_of_no_return(vmsnap_op *op);
/* Test failure injection: returns -EINTR and marks the op crashed when the armed
 * failpoint fires at this step; always 0 in the installed library. */
#ifdef VMSNAP_FAILPOINTS
int vmsnap_op_failpoint(vmsnap_op *op, const char *step);
#else
static inline int vmsnap_op_failpoint(vmsnap_op *op, const char *step)
{
        (void)op;
        (void)step;
        return 0;
}
#endif

/* The file disks the domain uses now (device disk, type file). */
int vmsnap_op_active_disks(vmsnap_op *op, vmsnap_active_disk **ret, size_t *n_ret);
void vmsnap_active_disks_free(vmsnap_active_disk *disks, size_t n);

/* Resolves a snapshot by name or id, or fails with NotFound naming it. */
int vmsnap_op_find_snapshot(vmsnap_op *op, const char *snapshot, vmsnap_snapshot **ret);
