/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* engine.h: the engine object shared by every operation: the libvirt
 * connection, the state directory, and one slot per domain holding its cached
 * metadata and the locks that serialize changes. An operation runs inside a
 * vmsnap_op, which owns the working copy of the metadata until it is saved. */
#pragma once

#include <libvirt/libvirt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "domxml.h"
#include "model.h"
#include "vmsnap/vmsnap.h"

typedef struct vmsnap_domain_slot {
        char uuid[VIR_UUID_STRING_BUFLEN];
        /* Held for a whole changing operation: changes of one domain are serialized. */
        pthread_mutex_t op_lock;
        /* Held briefly around every read or swap of meta, never across I/O. */
        pthread_mutex_t data_lock;
        vmsnap_domain_meta *meta; /* NULL until loaded; guarded by data_lock */
        /* Snapshots being read by running clones (guarded by data_lock): deletes wait. */
        char **clone_locked_ids;
        size_t n_clone_locks;
        /* For reads, guarded by data_lock: the tree of meta, built by the first read after
         * meta was published (tree.h), and what libvirt last said of the domain (facts.h). */
        struct vmsnap_tree *tree;
        struct vmsnap_domain_facts *facts;
        uint64_t facts_fetched_usec;
        unsigned facts_epoch; /* engine->facts_epoch when fetched */
        unsigned facts_drops; /* counts every drop, so a fetch that raced an event is not kept */
        /* The history file (history.c): appends are serialized by history_lock, which also
         * guards the count of its lines, known once history_counted. */
        pthread_mutex_t history_lock;
        bool history_counted;
        size_t history_lines;
} vmsnap_domain_slot;

struct vmsnap_engine {
        char *uri;
        char *state_dir;
        virConnectPtr connection; /* use vmsnap_engine_connection(): it is replaced after a reconnect */
        pthread_mutex_t connection_lock;
        pthread_mutex_t slots_lock;
        vmsnap_domain_slot **slots;
        size_t n_slots;
        /* The watcher (vmsnap_engine_watch): its callbacks run in libvirt's event loop,
         * one thread per process; watch_refs counts those libvirt still holds. */
        vmsnap_change_fn changed;
        void *changed_userdata;
        bool watching;
        int lifecycle_callback;
        int keepalive_timer;
        pthread_mutex_t watch_lock;
        pthread_cond_t watch_released;
        unsigned watch_refs;
        /* libvirt was not reachable when the engine was made: the recoveries made at
         * start (clones, purges) wait for the first connection. */
        atomic_bool recoveries_pending;
        /* Bumped at every reconnect: the facts of every slot are then out of date. */
        unsigned facts_epoch;
        /* The collapse workers, made at the first clone. */
        pthread_mutex_t pool_lock;
        struct vmsnap_pool *pool;
        unsigned workers;
        /* Where holds for the libvirt hook live (live.c); NULL: VMSNAP_RUN_DIR. */
        char *run_dir;
        /* Recoveries reported (vmsnap_engine_set_log); kept until log is set. */
        pthread_mutex_t log_lock;
        vmsnap_log_fn log;
        void *log_userdata;
        char **early_log;
        size_t n_early_log;
        /* The administrator's list of clone directories (confine.h); NULL:
         * VMSNAP_CLONE_TARGETS_FILE. */
        char *clone_targets;
};

/* What an operation requires of the domain before it may start. */
typedef enum vmsnap_op_flags {
        VMSNAP_OP_SHUT_OFF = 1 << 0,             /* the domain must not be running */
        VMSNAP_OP_NO_PREVIEW = 1 << 1,           /* refused while a preview runs */
        VMSNAP_OP_IN_PREVIEW = 1 << 2,           /* requires a running preview */
        VMSNAP_OP_NO_FOREIGN_SNAPSHOTS = 1 << 3, /* safety rule 4 */
        /* The domain may be one libvirt no longer defines, known only by the metadata the
         * state directory keeps (vmsnap_engine_lookup_kept): op->domain and op->xml are then
         * NULL, op->disks empty, and only an unfinished purge is recovered (purge.c). The
         * other flags apply to a defined domain only. */
        VMSNAP_OP_UNDEFINED_OK = 1 << 4,
} vmsnap_op_flags;

/* One file disk of the domain as it is now. */
typedef struct vmsnap_active_disk {
        char *target;
        char *source; /* canonical path */
        char *format;
} vmsnap_active_disk;

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
        bool crashed;    /* a test failpoint fired: skip every cleanup, as a real crash would */
        bool saved;      /* the metadata was written: watchers hear of it when the op ends */
        bool recovering; /* its messages are also the engine's log (vmsnap_engine_set_log) */
        bool purged;     /* recovery completed a purge: the domain's metadata is gone */
} vmsnap_op;

/* Resolves the domain (name or UUID), takes its op lock, loads and recovers its
 * metadata, and checks flags. */
int vmsnap_op_begin(vmsnap_engine *engine, const char *domain, unsigned flags, const vmsnap_hooks *hooks,
                    vmsnap_op **ret, vmsnap_error *error);
/* Writes op->meta to the store and publishes it to readers. */
int vmsnap_op_save(vmsnap_op *op);
/* Re-reads the domain XML after a change of definition. */
int vmsnap_op_reload_xml(vmsnap_op *op);
/* Defines xml as the domain's persistent configuration and reloads it. */
int vmsnap_op_define(vmsnap_op *op, const char *xml);
void vmsnap_op_end(vmsnap_op *op);
/* Reports progress/messages through the hooks; checks cancellation. */
void vmsnap_op_progress(vmsnap_op *op, uint64_t done, uint64_t total);
void vmsnap_op_message(vmsnap_op *op, const char *format, ...) __attribute__((format(printf, 2, 3)));
/* Reports a recovery to the engine's log (vmsnap_engine_set_log). Any thread. */
void vmsnap_engine_log(vmsnap_engine *engine, const char *format, ...) __attribute__((format(printf, 2, 3)));
bool vmsnap_op_canceled(vmsnap_op *op);
/* Test failure injection: returns -EINTR and marks the op crashed when the armed
 * failpoint fires at this step. */
int vmsnap_op_failpoint(vmsnap_op *op, const char *step);

/* The file disks the domain uses now (device disk, type file). */
int vmsnap_op_active_disks(vmsnap_op *op, vmsnap_active_disk **ret, size_t *n_ret);
void vmsnap_active_disks_free(vmsnap_active_disk *disks, size_t n);

/* Safety rule 2: true if another defined domain's chain contains path. */
int vmsnap_op_used_elsewhere(vmsnap_op *op, const char *path, bool *ret);

/* Resolves a snapshot by name or id, or fails with NotFound naming it. */
int vmsnap_op_find_snapshot(vmsnap_op *op, const char *snapshot, vmsnap_snapshot **ret);

/* Domain state as text: running, paused, shutoff, other. */
const char *vmsnap_domain_state_name(virDomainPtr domain);

/* The libvirt connection, reopened when the daemon went away (libvirtd restarted);
 * a new reference the caller releases with virConnectClose(). */
virConnectPtr vmsnap_engine_connection(vmsnap_engine *engine, vmsnap_error *error);

/* Looks up a domain: text that parses as a UUID (vmsnap_uuid_parse) by UUID first, then
 * by name; fails with NotFound. Every lookup of a domain gives this function's answer. */
int vmsnap_engine_lookup(vmsnap_engine *engine, const char *domain, virDomainPtr *ret, vmsnap_error *error);
/* The same rule over the domains libvirt defines and those whose metadata the state
 * directory keeps although libvirt no longer defines them: by UUID first (libvirt, then the
 * store), then by name (libvirt, then the last known name in the store). uuid_ret receives
 * the UUID; *ret the libvirt domain, or NULL when libvirt no longer defines it. Fails with
 * NotFound, or InvalidArgument when the name was last used by several undefined domains. */
int vmsnap_engine_lookup_kept(vmsnap_engine *engine, const char *domain,
                              char uuid_ret[VIR_UUID_STRING_BUFLEN], virDomainPtr *ret, vmsnap_error *error);
/* The slot of a domain UUID, created on first use. */
vmsnap_domain_slot *vmsnap_engine_slot(vmsnap_engine *engine, const char *uuid);
/* With slot->data_lock held: publishes meta to readers and returns the previous
 * metadata, for the caller to free once the lock is released. */
vmsnap_domain_meta *vmsnap_slot_publish(vmsnap_domain_slot *slot, vmsnap_domain_meta *meta);
/* Loads (and recovers) the slot's metadata if not loaded yet; op lock must be held. */
int vmsnap_engine_slot_load(vmsnap_engine *engine, vmsnap_domain_slot *slot, virDomainPtr domain,
                            vmsnap_error *error);

/* Tells the watcher that the domain's snapshot state changed. */
void vmsnap_engine_notify(vmsnap_engine *engine, const char *uuid);
/* Removes the copies of clones a crash interrupted before their domain was defined. */
void vmsnap_clone_recover(vmsnap_engine *engine);
/* Finishes, or rolls back, the purges a crash interrupted, also of domains libvirt no
 * longer defines (purge.c). */
void vmsnap_purge_recover(vmsnap_engine *engine);

/* Test-only: fail at the n-th failpoint reached from now on (0 disarms);
 * returns how many failpoints were reached since the last arm. */
void vmsnap_failpoint_arm(unsigned n);
unsigned vmsnap_failpoint_reached(void);
/* Test-only: forget every cached metadata, as a restarted daemon would. */
void vmsnap_engine_forget(vmsnap_engine *engine);
