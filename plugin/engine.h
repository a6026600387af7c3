/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* engine.h: the engine object shared by every operation: the libvirt
 * connection, the state directory, and one slot per domain holding its cached
 * metadata and the locks that serialize changes; the engine's log and its
 * worker pool. An operation runs inside a vmsnap_op (op.h). */
#pragma once

#include <libvirt/libvirt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "domxml.h"
#include "model.h"
#include "vmsnap/vmsnap.h"

/* What the engine runs once libvirt is first reachable: the recoveries of operations a
 * crash interrupted (begin.c gives it). */
typedef void (*vmsnap_engine_recover_fn)(vmsnap_engine *engine);

typedef struct vmsnap_domain_slot {
        char uuid[VIR_UUID_STRING_BUFLEN];
        /* Held for a whole changing operation: changes of one domain are serialized. */
        pthread_mutex_t op_lock;
        /* Held briefly around every read or swap of meta, never across I/O. */
        pthread_mutex_t data_lock;
        vmsnap_domain_meta *meta; /* NULL until loaded; guarded by data_lock */
        /* Its tree lives in the cluster (shared-tree.h), and when meta was last brought up
         * to date from there (CLOCK_MONOTONIC), guarded by data_lock. */
        bool shared;
        uint64_t shared_synced_usec;
        /* Snapshots being read by running clones (guarded by data_lock): deletes wait. */
        char **clone_locked_ids;
        size_t n_clone_locks;
        /* For reads, guarded by data_lock: the tree of meta, built by the first read after
         * meta was published (tree.h). */
        struct vmsnap_tree *tree;
        /* Moves at every lifecycle event of the domain and at the end of every vmsnap
         * operation on it (vmsnap_slot_domain_changed), guarded by data_lock: what was read
         * of the domain from libvirt before it moved is out of date. */
        unsigned domain_changes;
        /* What libvirt last said of the domain (facts.c owns these, guarded by data_lock),
         * freed with facts_free; used only while domain_changes and the engine's
         * connection_epoch are what they were when it was read. */
        struct vmsnap_domain_facts *facts;
        void (*facts_free)(struct vmsnap_domain_facts *facts);
        uint64_t facts_fetched_usec;
        unsigned facts_connection_epoch;
        unsigned facts_domain_changes;
        /* What the domain's files occupy (query.c), guarded by data_lock. A snapshot's frozen
         * images and memory state change only in vmsnap's operations; a guest writes only the
         * live files (its active overlays, a preview's), which every listing measures. So the
         * frozen files' total is kept while files_epoch stays what it was when they were
         * measured and no operation runs: files_epoch moves when an operation begins or ends
         * and when metadata is published (vmsnap_slot_files_changed). */
        unsigned files_epoch;
        bool op_running;
        bool frozen_known;
        unsigned frozen_epoch;
        uint64_t frozen_bytes;
        char **live_files; /* the owned files no snapshot holds, when frozen_known */
        size_t n_live_files;
        /* The history file (history.c): appends are serialized by history_lock, which also
         * guards the count of its lines, known once history_counted. */
        pthread_mutex_t history_lock;
        bool history_counted;
        size_t history_lines;
} vmsnap_domain_slot;

struct vmsnap_engine {
        char *uri;
        char *state_dir;
        virConnectPtr connection;   /* use vmsnap_engine_connection(): it is replaced after a reconnect */
        unsigned rbd_lease_seconds; /* a domain tree's lease in its cluster (shared-tree.h); 0: 30 */
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
        vmsnap_engine_recover_fn recover;
        /* Bumped at every reconnect (atomic): what was read from libvirt before is then out
         * of date for every domain. */
        unsigned connection_epoch;
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
        /* The documents of the domains libvirt no longer defines, as ListDomains read them. */
        struct vmsnap_undefined_cache *undefined;
};

/* Reports a recovery to the engine's log (vmsnap_engine_set_log). Any thread. */
void vmsnap_engine_log(vmsnap_engine *engine, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* Makes the engine (vmsnap_engine_new, in begin.c, is this with the recoveries): the state
 * directory, and the connection when libvirt is reachable; recover runs then, or at the
 * first connection. */
int vmsnap_engine_open(const char *uri, const char *state_dir, vmsnap_engine_recover_fn recover,
                       vmsnap_engine **ret, vmsnap_error *error);

/* Sets error to what, followed by libvirt's last error message. */
int vmsnap_libvirt_error(vmsnap_error *error, vmsnap_error_kind kind, const char *what);

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
/* With data_lock held: the domain's files may have changed; what was measured of them is
 * not kept. */
void vmsnap_slot_files_changed(vmsnap_domain_slot *slot);
/* With data_lock held: the domain may have changed in libvirt (an event, the end of an
 * operation); what was read of it is not kept. */
void vmsnap_slot_domain_changed(vmsnap_domain_slot *slot);
/* What the engine's connection_epoch is now (any thread). */
unsigned vmsnap_engine_connection_epoch(vmsnap_engine *engine);
/* Loads (and recovers) the slot's metadata if not loaded yet; op lock must be held. */
int vmsnap_engine_slot_load(vmsnap_engine *engine, vmsnap_domain_slot *slot, virDomainPtr domain,
                            vmsnap_error *error);

/* The engine's worker pool, made at the first call (vmsnap_engine_set_workers sets its size
 * before that); NULL with error set when it cannot be made. */
struct vmsnap_pool *vmsnap_engine_pool(vmsnap_engine *engine, vmsnap_error *error);

/* Tells the watcher that the domain's snapshot state changed. */
void vmsnap_engine_notify(vmsnap_engine *engine, const char *uuid);

/* Test-only: forget every cached metadata, as a restarted daemon would. */
void vmsnap_engine_forget(vmsnap_engine *engine);
