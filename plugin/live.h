/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* live.h: the changes vmsnap makes to a running domain, each through libvirt:
 * external snapshots onto overlays vmsnap made beforehand (disks and, optionally,
 * memory), and what the running domain's chains contain. Policy (which disks,
 * file names, the journal) stays with the operations that call these. */
#pragma once

#include "op.h"

/* One disk of a live snapshot: the running disk `target` continues on `overlay`,
 * which already exists as a qcow2 overlay of the disk's current leaf. */
typedef struct vmsnap_live_disk {
        const char *target;
        const char *overlay;
} vmsnap_live_disk;

/* Takes an external snapshot of the running domain: the listed disks switch to
 * their overlays (REUSE_EXT), every other disk is left out, atomically. memory_file:
 * NULL for disk-only, else a path (not existing yet) that receives the memory state
 * while the domain keeps running. quiesce: freeze the guest's file systems through
 * its agent first. Nothing changes when it fails. The memory file ends up mode 0600,
 * owned by vmsnap's user (root), like the metadata. */
int vmsnap_live_snapshot(vmsnap_op *op, const vmsnap_live_disk *disks, size_t n_disks,
                         const char *memory_file, bool quiesce);

/* True in *ret when the running domain's live definition declares a QEMU guest agent channel. */
int vmsnap_live_has_guest_agent(vmsnap_op *op, bool *ret);

/* True in *ret when the domain runs and a chain of its live disks contains path. */
int vmsnap_live_uses(vmsnap_op *op, const char *path, bool *ret);

/* The path of a snapshot's memory file: "<dir of first_leaf>/<domain>.vmsnap-<id prefix>.mem"; it does not
 * exist yet. */
int vmsnap_live_memory_path(vmsnap_op *op, const char *first_leaf, const char *snapshot_id, char **ret);

/* The file disk target uses now: the running definition's source when the domain
 * runs, else the persistent one (as written there, not made canonical). */
int vmsnap_live_disk_source(vmsnap_op *op, const char *target, char **ret);

/* True in *ret when path is in the backing chain of disk target as the domain uses it
 * now (its running definition when it runs, else its persistent one), the disk's
 * current file included. */
int vmsnap_live_chain_contains(vmsnap_op *op, const char *target, const char *path, bool *ret);

/* Commits disk target's image top (NULL: the active image) into base, an image
 * below it in the running chain, with a libvirt block job; an active commit pivots
 * the disk onto base when the copy is done. Waits for the job; progress goes to
 * hooks. Adopts a job already running on the disk (after a restart). */
int vmsnap_live_block_commit(vmsnap_op *op, const char *target, const char *top, const char *base,
                             const vmsnap_hooks *hooks);

/* Copies into disk target's active image everything it reads through the images
 * above base (NULL: the whole chain), which becomes its backing file; a libvirt block
 * job, waited for. A cancel through hooks stops the job (the disk keeps its chain, its
 * active image holds part of the data it already read) and returns -ECANCELED. */
int vmsnap_live_block_pull(vmsnap_op *op, const char *target, const char *base, const vmsnap_hooks *hooks);

/* Stops disk target's block job, if one runs, without pivot, and waits until it is gone. */
int vmsnap_live_block_job_abort(vmsnap_op *op, const char *target);

/* The libvirt hook's hold on the domain (see vmsnap_engine_set_run_dir): written
 * before an offline change checks the domain's state, removed when it ends. The file
 * <run dir>/hold/<uuid> holds "<operation> <pid> <start time>", the start time being
 * field 22 of /proc/<pid>/stat: the hook honours a hold only while a process with
 * that pid and that start time runs (packaging/libvirt-hook/vmsnap). A hold
 * that cannot be written fails the operation (Failed, naming the directory) before
 * it changes anything: without it nothing stops a `virsh start` during the change. */
int vmsnap_live_hold(vmsnap_op *op, const char *operation);
void vmsnap_live_release(vmsnap_op *op);

/* Refuses a running domain with DomainRunning naming what to do, or, with stop, stops
 * it (virDomainDestroy). change: what replaces the disks, as the sentence says it
 * ("a preview", "the commit of its preview"). */
int vmsnap_live_check_stopped(vmsnap_op *op, const char *change, bool stop, bool *running_ret);
/* The refusal itself (DomainRunning), also for a check made before the operation. */
int vmsnap_live_refuse_running(vmsnap_error *error, const char *domain_name, const char *change);
int vmsnap_live_stop(vmsnap_op *op);

/* Holding the running guest still while disks libvirt does not switch (RBD snapshots)
 * are frozen with the others: "frozen" quiesces its file systems through the guest agent
 * (virDomainFSFreeze), "paused" suspends its vCPUs, so every disk is taken at one
 * instant. vmsnap_live_still_end undoes either; it is what recovery calls when a crash
 * left the guest held (journal.h). */
int vmsnap_live_still_begin(vmsnap_op *op, const char *how);
int vmsnap_live_still_end(vmsnap_op *op, const char *how);

/* The domain XML kept in a memory file, its disks moved onto sources: what the
 * domain restored from it runs with. */
int vmsnap_live_restore_xml(vmsnap_op *op, const char *memory_file, const vmsnap_xml_disk_source *sources,
                            size_t n, char **ret);
/* Starts the shut-off domain from the memory file with xml (vmsnap_live_restore_xml);
 * a running domain is left alone (done before a crash). */
int vmsnap_live_restore(vmsnap_op *op, const char *memory_file, const char *xml);
