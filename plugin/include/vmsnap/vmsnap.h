/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libvmsnap: the public C API of the vmsnap engine.
 *
 * The engine owns the snapshot model, the metadata store and every change to
 * image files and libvirt domain definitions. It knows nothing of D-Bus: the
 * bus adapter (vmsnapd) and the demo program are its clients. Every function
 * returns 0 or a negative errno-style code and, on failure, fills a
 * vmsnap_error with a sentence a person can act on. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VMSNAP_EXPORT __attribute__((visibility("default")))

/* What kind of failure an error is; the bus maps each to a named D-Bus error. */
typedef enum vmsnap_error_kind {
        VMSNAP_ERROR_NONE = 0,
        VMSNAP_ERROR_NOT_FOUND,
        VMSNAP_ERROR_BUSY,
        VMSNAP_ERROR_INVALID_ARGUMENT,
        VMSNAP_ERROR_DOMAIN_RUNNING,
        VMSNAP_ERROR_IN_PREVIEW,
        VMSNAP_ERROR_NO_SPACE,
        VMSNAP_ERROR_LOCKED,
        VMSNAP_ERROR_UNSUPPORTED,
        VMSNAP_ERROR_CANCELED,
        VMSNAP_ERROR_FAILED,
} vmsnap_error_kind;

typedef struct vmsnap_error {
        int code; /* negative errno-style value, 0 when no error */
        vmsnap_error_kind kind;
        char message[1024];
} vmsnap_error;

VMSNAP_EXPORT const char *vmsnap_error_kind_name(vmsnap_error_kind kind);

/* Hooks an operation calls while it works; every member may be NULL.
 * progress: done of total (monotonic, total may grow once known). A clone counts bytes
 *   to copy; every other operation counts steps of its own (disks frozen, images merged),
 *   so that only the fraction done/total means anything to a caller.
 * message: a warning or note for the caller (e.g. "the original image ... was left in place").
 * is_canceled: polled between steps and per chunk; true makes the operation
 *   stop, undo what it did and fail with VMSNAP_ERROR_CANCELED. */
typedef struct vmsnap_hooks {
        void (*progress)(void *userdata, uint64_t done, uint64_t total);
        void (*message)(void *userdata, const char *text);
        bool (*is_canceled)(void *userdata);
        void *userdata;
        /* Called once when the operation passes its point of no return (its changes are
         * recorded and it completes, also after a crash): from then on is_canceled is
         * no longer asked. May be NULL. */
        void (*past_point_of_no_return)(void *userdata);
} vmsnap_hooks;

typedef struct vmsnap_engine vmsnap_engine;

/* uri: a libvirt connection URI (NULL: qemu:///system).
 * state_dir: where the per-domain metadata lives (NULL: /var/lib/vmsnap); created if missing.
 * libvirt need not be reachable: until it is, every call that needs it fails (Failed,
 * "libvirt at <uri> is not reachable: ..."), and the first call after it is connects. */
VMSNAP_EXPORT int vmsnap_engine_new(const char *uri, const char *state_dir, vmsnap_engine **ret,
                                    vmsnap_error *error);
VMSNAP_EXPORT void vmsnap_engine_free(vmsnap_engine *engine);

/* Called, from an engine thread, whenever the snapshot state of a domain may have
 * changed: after every change vmsnap makes, and when libvirt reports the domain
 * defined, undefined, started or stopped, whoever did it. domain_uuid is the
 * domain's UUID. When a domain is undefined its metadata is kept (defined false in
 * vmsnap_domain_list) until vmsnap_domain_purge or a define with the same UUID. */
typedef void (*vmsnap_change_fn)(void *userdata, const char *domain_uuid);

/* Starts watching libvirt's domain events in a thread of the engine and reports
 * changes through changed. At most one watcher; it stops when the engine is freed. */
VMSNAP_EXPORT int vmsnap_engine_watch(vmsnap_engine *engine, vmsnap_change_fn changed, void *userdata,
                                      vmsnap_error *error);

/* Recoveries the engine performs, as sentences: an interrupted operation it finished or
 * rolled back (and what it did on the way), the files of a clone interrupted before its
 * domain was defined that it removed at start. Called from whichever thread recovered,
 * also outside any operation's hooks. Sentences from before log was set (those of
 * vmsnap_engine_new) are handed to it when it is set (at most 64 are kept). NULL: none. */
typedef void (*vmsnap_log_fn)(void *userdata, const char *text);
VMSNAP_EXPORT void vmsnap_engine_set_log(vmsnap_engine *engine, vmsnap_log_fn log, void *userdata);

/* ---- records ---- */

typedef struct vmsnap_domain_info {
        char *name;
        char *uuid;
        char *state;            /* running, paused, shutoff, other; undefined when !defined */
        char *current_snapshot; /* name, "" when none */
        bool in_preview;
        unsigned snapshot_count;
        /* false: libvirt no longer defines the domain (undefined, or renamed while vmsnap
         * was away); its tree is kept, and comes back when a domain of the same UUID is
         * defined again. */
        bool defined;
        /* Bytes allocated (st_blocks) by the files vmsnap made for the domain that exist:
         * overlays, frozen images, memory states. Originals are not counted. */
        uint64_t snapshot_bytes;
} vmsnap_domain_info;

typedef struct vmsnap_snapshot_disk {
        char *target;          /* vda, ... */
        char *image;           /* frozen image holding the disk's state; NULL when excluded */
        char *format;          /* format of image (qcow2, raw); NULL when excluded */
        char *excluded_reason; /* NULL when included */
} vmsnap_snapshot_disk;

typedef struct vmsnap_snapshot_info {
        char *id; /* UUID */
        char *name;
        char *description;
        int64_t created; /* unix seconds */
        char *parent_id; /* "" for a root */
        char *state;     /* domain state when taken: running, paused, shutoff */
        /* "offline" (the domain was not running), "quiesced" (the guest's file systems were
         * frozen through its agent) or "crash-consistent" (all disks at one instant, without
         * the guest's help); "" for a snapshot taken before vmsnap recorded it. */
        char *consistency;
        vmsnap_snapshot_disk *disks;
        size_t n_disks;
        char **children_ids;
        size_t n_children;
        bool memory;
        bool current;
        bool partial;    /* a recorded disk is no longer attached or its image is gone */
        bool locked;     /* held by a running clone */
        bool in_preview; /* part of the running preview (configuration or a disk) */
        /* Bytes allocated in the images this snapshot froze that vmsnap made; an original
         * image counts 0. */
        uint64_t size;
        /* Bytes a delete (merge) of the snapshot would free now, from the plan that merge
         * would run: the files it removes (frozen images, or the child committed down, and
         * the memory state) less what the images receiving their data grow by. Images
         * vmsnap may not change count 0. 0 also when the plan cannot be made now. */
        uint64_t reclaimable;
} vmsnap_snapshot_info;

typedef struct vmsnap_image_info {
        char *target;
        char *image; /* NULL for a disk without an image file (network, block, empty cdrom) */
        char *format;
        uint64_t virtual_size;
        uint64_t allocated;
        /* The domain's current configuration only: why a new snapshot cannot include the
         * disk ("cdrom", "read-only", "shareable", "not a file disk", ...), NULL when it can. */
        char *ineligible_reason;
} vmsnap_image_info;

VMSNAP_EXPORT void vmsnap_domain_info_clear(vmsnap_domain_info *info);
VMSNAP_EXPORT void vmsnap_domain_info_array_free(vmsnap_domain_info *array, size_t n);
VMSNAP_EXPORT void vmsnap_snapshot_info_clear(vmsnap_snapshot_info *info);
VMSNAP_EXPORT void vmsnap_snapshot_info_array_free(vmsnap_snapshot_info *array, size_t n);
VMSNAP_EXPORT void vmsnap_image_info_array_free(vmsnap_image_info *array, size_t n);

/* ---- reading ---- */

/* A domain is named by name or UUID, a snapshot by name or id. Text that parses as a
 * UUID (8-4-4-4-12 or 32 hex digits, either case) is taken as the UUID (id) first and only
 * then as a name, in every function below; names spelled as a UUID are never made. */
VMSNAP_EXPORT int vmsnap_domain_list(vmsnap_engine *engine, vmsnap_domain_info **ret, size_t *n_ret,
                                     vmsnap_error *error);
VMSNAP_EXPORT int vmsnap_domain_get(vmsnap_engine *engine, const char *domain, vmsnap_domain_info *ret,
                                    vmsnap_error *error);
/* The same, and also a domain libvirt no longer defines whose tree vmsnap keeps (defined
 * false), found by its UUID or its last known name: by UUID first (libvirt, then the kept
 * metadata), then by name (libvirt, then the kept metadata). What Purge is given. */
VMSNAP_EXPORT int vmsnap_domain_get_including_undefined(vmsnap_engine *engine, const char *domain,
                                                        vmsnap_domain_info *ret, vmsnap_error *error);
/* Either of the two above (including_undefined: the second) without measuring the files:
 * snapshot_bytes is 0. For a caller that needs who the domain is, not what it occupies
 * (the bus resolving a call's domain argument). */
VMSNAP_EXPORT int vmsnap_domain_identify(vmsnap_engine *engine, const char *domain, bool including_undefined,
                                         vmsnap_domain_info *ret, vmsnap_error *error);
/* Snapshots in tree order: every parent before its children, roots by creation time. */
VMSNAP_EXPORT int vmsnap_snapshot_list(vmsnap_engine *engine, const char *domain, vmsnap_snapshot_info **ret,
                                       size_t *n_ret, vmsnap_error *error);
VMSNAP_EXPORT int vmsnap_snapshot_get(vmsnap_engine *engine, const char *domain, const char *snapshot,
                                      vmsnap_snapshot_info *ret, vmsnap_error *error);
/* The same without measuring: size and reclaimable are 0. For a caller that needs which
 * snapshot it is (the bus resolving a call's snapshot argument), not what a delete would
 * free, which plans the merges of the domain's tree. */
VMSNAP_EXPORT int vmsnap_snapshot_identify(vmsnap_engine *engine, const char *domain, const char *snapshot,
                                           vmsnap_snapshot_info *ret, vmsnap_error *error);
/* The domain XML recorded at the snapshot and, per included disk, its frozen image (an
 * RBD disk's as QEMU names its snapshot, "rbd:pool[/namespace]/image@vmsnap-<id>", raw,
 * sized through its cluster). */
VMSNAP_EXPORT int vmsnap_snapshot_get_configuration(vmsnap_engine *engine, const char *domain,
                                                    const char *snapshot, char **xml_ret,
                                                    vmsnap_image_info **disks_ret, size_t *n_disks_ret,
                                                    vmsnap_error *error);
/* The domain's configuration now (its persistent XML) and every disk in it: its active
 * image, and whether a new snapshot can include it (ineligible_reason), decided as
 * vmsnap_snapshot_create decides. What a create dialog offers. */
VMSNAP_EXPORT int vmsnap_domain_get_configuration(vmsnap_engine *engine, const char *domain, char **xml_ret,
                                                  vmsnap_image_info **disks_ret, size_t *n_disks_ret,
                                                  vmsnap_error *error);

/* ---- changing ---- */

typedef struct vmsnap_create_options {
        const char *name;         /* NULL or "": a default such as "snapshot-3" */
        const char *description;  /* NULL: "" */
        const char *const *disks; /* targets to include; NULL or empty: every eligible disk */
        size_t n_disks;
        bool memory;  /* running domains only */
        bool quiesce; /* running domains only */
} vmsnap_create_options;

/* Whether vmsnap_snapshot_create would refuse options at once, asked without queuing
 * anything: a name that is not valid, or that another snapshot of the domain has
 * (InvalidArgument). 0 when nothing is refused now; the create itself checks again. */
VMSNAP_EXPORT int vmsnap_create_check(vmsnap_engine *engine, const char *domain,
                                      const vmsnap_create_options *options, vmsnap_error *error);
/* On success *name_ret (if non-NULL) receives the new snapshot's name. */
VMSNAP_EXPORT int vmsnap_snapshot_create(vmsnap_engine *engine, const char *domain,
                                         const vmsnap_create_options *options, const vmsnap_hooks *hooks,
                                         char **name_ret, vmsnap_error *error);

typedef struct vmsnap_disk_choice {
        const char *target;   /* vda */
        const char *snapshot; /* name or id whose state the disk shows */
} vmsnap_disk_choice;

typedef struct vmsnap_preview_options {
        const vmsnap_disk_choice *disks; /* custom preview; targets not listed come from the main snapshot */
        size_t n_disks;
        /* Start the domain from the snapshot's memory state: it runs on from the
         * instant the snapshot was taken, on the preview's disks. */
        bool restore_memory;
        /* A running domain is refused with DomainRunning unless this is set: then it is
         * stopped (virDomainDestroy) first, and what only its memory held is lost. */
        bool stop;
} vmsnap_preview_options;

/* Options of commit and undo. */
typedef struct vmsnap_preview_end_options {
        bool stop; /* as in vmsnap_preview_options */
} vmsnap_preview_end_options;

VMSNAP_EXPORT int vmsnap_preview_start(vmsnap_engine *engine, const char *domain, const char *snapshot,
                                       const vmsnap_preview_options *options, const vmsnap_hooks *hooks,
                                       vmsnap_error *error);
VMSNAP_EXPORT int vmsnap_preview_commit(vmsnap_engine *engine, const char *domain, const vmsnap_hooks *hooks,
                                        vmsnap_error *error);
VMSNAP_EXPORT int vmsnap_preview_undo(vmsnap_engine *engine, const char *domain, const vmsnap_hooks *hooks,
                                      vmsnap_error *error);
/* The same with options (NULL: none): stop a running domain first. */
VMSNAP_EXPORT int vmsnap_preview_commit_with_options(vmsnap_engine *engine, const char *domain,
                                                     const vmsnap_preview_end_options *options,
                                                     const vmsnap_hooks *hooks, vmsnap_error *error);
VMSNAP_EXPORT int vmsnap_preview_undo_with_options(vmsnap_engine *engine, const char *domain,
                                                   const vmsnap_preview_end_options *options,
                                                   const vmsnap_hooks *hooks, vmsnap_error *error);

/* Whether commit or undo would refuse at once, asked without queuing anything: a
 * running (or paused) domain in preview without the option stop (DomainRunning, the
 * sentence the operation gives). 0 when nothing is refused now; the operation checks
 * again. */
VMSNAP_EXPORT int vmsnap_preview_commit_check(vmsnap_engine *engine, const char *domain,
                                              const vmsnap_preview_end_options *options,
                                              vmsnap_error *error);
VMSNAP_EXPORT int vmsnap_preview_undo_check(vmsnap_engine *engine, const char *domain,
                                            const vmsnap_preview_end_options *options, vmsnap_error *error);

typedef struct vmsnap_revert_options {
        bool start;
        /* Restore the snapshot's memory state: the domain runs on from the snapshot's
         * instant (a running domain is stopped first; this implies stop). */
        bool restore_memory;
        bool stop; /* stop a running domain first, else it is refused with DomainRunning */
} vmsnap_revert_options;

VMSNAP_EXPORT int vmsnap_snapshot_revert(vmsnap_engine *engine, const char *domain, const char *snapshot,
                                         const vmsnap_revert_options *options, const vmsnap_hooks *hooks,
                                         vmsnap_error *error);

/* METADATA_ONLY leaves the snapshot's images to the administrator: vmsnap never writes into
 * or removes them again, nor any file they read through, and the messages name them. */
typedef enum vmsnap_delete_mode {
        VMSNAP_DELETE_MERGE = 0,     /* children move to the parent, their content unchanged */
        VMSNAP_DELETE_CHILDREN,      /* the snapshot and its whole subtree */
        VMSNAP_DELETE_METADATA_ONLY, /* forget it, keep every file */
        VMSNAP_DELETE_CHILDREN_ONLY, /* its whole subtree, the snapshot itself stays */
} vmsnap_delete_mode;

VMSNAP_EXPORT int vmsnap_snapshot_delete(vmsnap_engine *engine, const char *domain, const char *snapshot,
                                         vmsnap_delete_mode mode, const vmsnap_hooks *hooks,
                                         vmsnap_error *error);

typedef struct vmsnap_delete_all_options {
        /* Commit each disk into its original image, so that it is one file again; refused
         * when another domain reads that image. Without it each disk is left as its
         * original plus at most one vmsnap overlay. */
        bool into_original;
} vmsnap_delete_all_options;

/* Deletes every snapshot of the domain; every disk reads what it read before. Works on
 * a running domain (block jobs), refused during a preview; cancelable until its commit
 * point. options may be NULL. */
VMSNAP_EXPORT int vmsnap_snapshot_delete_all(vmsnap_engine *engine, const char *domain,
                                             const vmsnap_delete_all_options *options,
                                             const vmsnap_hooks *hooks, vmsnap_error *error);

typedef struct vmsnap_purge_options {
        /* A domain libvirt still defines is refused unless this is set: then it must be shut
         * off, and it is undefined (with its NVRAM) before vmsnap's files are removed. */
        bool undefine;
} vmsnap_purge_options;

/* Removes every file vmsnap made for a domain libvirt no longer defines (overlays,
 * memory files, files of an operation left unfinished), then its metadata: the domain
 * leaves vmsnap_domain_list. domain: the UUID, or the last known name, as
 * vmsnap_domain_get_including_undefined finds it. Originals and shared bases (files vmsnap
 * did not make) and files another defined domain's chain contains are never removed; a
 * message names each with its path. Crash-safe: after a crash the domain is as before or
 * as after once the engine restarts. options may be NULL. */
VMSNAP_EXPORT int vmsnap_domain_purge(vmsnap_engine *engine, const char *domain,
                                      const vmsnap_purge_options *options, const vmsnap_hooks *hooks,
                                      vmsnap_error *error);

VMSNAP_EXPORT int vmsnap_snapshot_rename(vmsnap_engine *engine, const char *domain, const char *snapshot,
                                         const char *new_name, vmsnap_error *error);
VMSNAP_EXPORT int vmsnap_snapshot_set_description(vmsnap_engine *engine, const char *domain,
                                                  const char *snapshot, const char *description,
                                                  vmsnap_error *error);

/* Per-disk choices of a clone; every member may be NULL (the clone-wide choice applies). */
typedef struct vmsnap_clone_disk {
        const char *target;     /* vda */
        const char *target_dir; /* directory for this disk's copy */
        const char *format;     /* "qcow2" or "raw" */
        int include;            /* 1 include (default), 0 leave the disk out of the clone */
        /* An RBD disk: the pool ("pool" or "pool/namespace") of the clone's image, in the
         * same cluster; NULL: the snapshot image's. */
        const char *rbd_pool;
} vmsnap_clone_disk;

typedef struct vmsnap_clone_options {
        const char *target_dir; /* NULL: the pool, else the directory of each disk's image */
        const char *pool;       /* a libvirt storage pool of type dir; NULL: none */
        const char *format;     /* "qcow2" (default) or "raw" */
        const vmsnap_clone_disk *disks;
        size_t n_disks;
        bool start;         /* start the new domain once defined */
        bool allow_partial; /* clone a snapshot whose recorded image is gone, without that disk */
        /* RBD disks: the clone's image stays a copy-on-write clone of the snapshot (instant,
         * and the snapshot cannot go for good while it reads it); by default it is flattened
         * into a standalone image, with byte progress and cancel. */
        bool linked;
} vmsnap_clone_options;

/* Defines a new domain from the snapshot's configuration (new name, UUID and MAC
 * addresses, NVRAM copied) whose disks are standalone copies of the snapshot's disks:
 * each disk's backing chain collapsed into one image. new_name NULL or "":
 * "copy_of_<domain>". Works while the source domain runs. The snapshot's domain cannot
 * delete snapshots while the clone runs. *name_ret receives the new domain's name. */
VMSNAP_EXPORT int vmsnap_snapshot_clone(vmsnap_engine *engine, const char *domain, const char *snapshot,
                                        const char *new_name, const vmsnap_clone_options *options,
                                        const vmsnap_hooks *hooks, char **name_ret, vmsnap_error *error);

/* Where clones may write (safety rule 6): into the directories of the source domain's
 * images (and NVRAM), of libvirt's active storage pools of type dir, and those listed in
 * the clone-targets file; any other target_dir, or one reached through a symbolic link, is
 * refused with InvalidArgument naming the allowed places. The file holds one absolute
 * directory per line ('#' comment lines, blank lines ignored), is read at every clone,
 * and is used only while owned by root (or the engine's user) and not writable by group
 * or others. path: the file (NULL: /etc/vmsnap/clone-targets). Set it before clones run. */
VMSNAP_EXPORT int vmsnap_engine_set_clone_targets(vmsnap_engine *engine, const char *path,
                                                  vmsnap_error *error);

/* How long this engine's hold on a domain tree kept in a Ceph cluster (a domain whose
 * disks are all RBD) outlives it, in seconds (2 to 3600; default 30). The hold is renewed
 * while the engine lives; when its host dies, other hosts wait this long before they take
 * the tree over and recover what it left half done. Every host sharing a cluster should
 * use the same value. */
VMSNAP_EXPORT int vmsnap_engine_set_rbd_lease(vmsnap_engine *engine, unsigned seconds, vmsnap_error *error);

/* Worker threads for clones (0: the CPU count). Takes effect before the first clone. */
VMSNAP_EXPORT int vmsnap_engine_set_workers(vmsnap_engine *engine, unsigned workers, vmsnap_error *error);

/* While an offline change (create or merge of a shut-off domain, preview, commit, undo,
 * revert) runs, the engine holds the domain with a file <run_dir>/hold/<domain-uuid>
 * naming the operation; the libvirt hook installed as
 * /etc/libvirt/hooks/qemu.d/vmsnap refuses to start a held domain. Default run_dir:
 * /run/vmsnap, the path the hook reads (change it only for tests). */
VMSNAP_EXPORT int vmsnap_engine_set_run_dir(vmsnap_engine *engine, const char *run_dir, vmsnap_error *error);

/* Checks a snapshot name without any domain: 1-255 bytes of UTF-8, no '/', no control,
 * format (zero-width, bidirectional) or line/paragraph separator characters, no white space
 * at either end, and not spelled as a UUID (ids name snapshots and domains by UUID). A
 * clone's domain name passes the same rules. */
VMSNAP_EXPORT int vmsnap_name_validate(const char *name, vmsnap_error *error);
/* The same rules for the name of a new domain (a clone); the message calls it a domain name. */
VMSNAP_EXPORT int vmsnap_domain_name_validate(const char *name, vmsnap_error *error);

/* ---- the audit trail ---- */

/* One change of a domain as the history keeps it. */
typedef struct vmsnap_history_entry {
        uint64_t time_usec; /* when it ended: CLOCK_REALTIME, µs since the epoch */
        char *operation;    /* create, preview, commit, undo, revert, delete, clone, rename, ... */
        char *snapshot;     /* the snapshot's name then, "" when none */
        uint32_t uid;       /* the caller's UID */
        char *result;       /* done, failed, canceled */
        char *error;        /* the sentence of a failure, "" when done */
        char *error_name;   /* org.example.Snapshots.Error.* of a failure, "" otherwise */
        char **messages;    /* NULL-terminated: the warnings and notes the change gave */
} vmsnap_history_entry;

#define VMSNAP_HISTORY_MAX 1000

/* Appends an entry to the domain's history (its UUID, or a name libvirt knows). The history
 * is keyed by UUID, so it survives renames, undefines and restarts; the last
 * VMSNAP_HISTORY_MAX entries are kept. time_usec 0: now. Any thread. */
VMSNAP_EXPORT int vmsnap_history_append(vmsnap_engine *engine, const char *domain,
                                        const vmsnap_history_entry *entry, vmsnap_error *error);
/* The domain's history, oldest first (at most VMSNAP_HISTORY_MAX entries). A domain libvirt
 * no longer defines is found by its UUID when vmsnap keeps its metadata or its history. */
VMSNAP_EXPORT int vmsnap_history_list(vmsnap_engine *engine, const char *domain, vmsnap_history_entry **ret,
                                      size_t *n_ret, vmsnap_error *error);
VMSNAP_EXPORT void vmsnap_history_entry_clear(vmsnap_history_entry *entry);
VMSNAP_EXPORT void vmsnap_history_entry_array_free(vmsnap_history_entry *array, size_t n);

VMSNAP_EXPORT const char *vmsnap_version(void);

#ifdef __cplusplus
}
#endif
