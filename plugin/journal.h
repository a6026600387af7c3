/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* journal.h: the intent journal that makes multi-step operations crash-safe.
 *
 * Before its first change an operation records its intent with the domain's
 * metadata (a small file beside the document, store.h): the files it is about to
 * create and the domain XML to go back to ("prepare" phase, rolled back on
 * recovery). At its commit point it saves the final metadata together with the
 * steps still to run ("finish" phase, rolled forward on recovery): the one write of
 * the whole document an operation makes, unless garbage collection then changes the
 * model again (a second write, at the end, of what it removed). Every other step
 * writes the intent alone. A step done by another program (qemu-img, a block job) is
 * never trusted halfway: it records the state it starts from, and a redo after a
 * crash or a killed child restores that state before it runs the step again. */
#pragma once

#include "op.h"

/* Starts the prepare phase and saves it. saved_xml: the definition to restore (""
 * when the operation changes it only through one all-or-nothing libvirt call). */
int vmsnap_journal_prepare(vmsnap_op *op, const char *operation, const char *saved_xml);
/* An overlay an operation is about to create, and the file it reads through. */
typedef struct vmsnap_journal_overlay {
        const char *path;
        const char *backing;
} vmsnap_journal_overlay;
/* Starts the prepare phase of an operation that first creates overlays, each recorded
 * before any is created: one write. Then the same as vmsnap_journal_prepare. */
int vmsnap_journal_prepare_overlays(vmsnap_op *op, const char *operation, const char *saved_xml,
                                    const vmsnap_journal_overlay *overlays, size_t n);
/* Records that libvirt is about to write a memory-state file at path (which does not
 * exist yet); saved before the call. */
int vmsnap_journal_add_memory_file(vmsnap_op *op, const char *path);
/* Records that vmsnap is about to take the RBD snapshot rbd_snapshot (a model name,
 * rbd-disk.h) whose id is new, with how to reach its cluster (reach, taken over);
 * saved before it is taken. Rolling back removes it. The records and steps below that
 * take a reach take it over alike. */
int vmsnap_journal_add_rbd_snapshot(vmsnap_op *op, const char *rbd_snapshot, json_object *reach);
/* Records that vmsnap is about to make the RBD clone clone_name (a new name); saved
 * before it is made. Rolling back removes it. */
int vmsnap_journal_add_rbd_clone(vmsnap_op *op, const char *clone_name, json_object *reach);
/* Records, before it is done, that the running guest is held still ("frozen", "paused":
 * vmsnap_live_still_begin), or with NULL that it was let go; saved. A crash meanwhile
 * leaves the guest held: the rollback, and the roll forward, let it go first. */
int vmsnap_journal_guest_still(vmsnap_op *op, const char *how);
/* Records that a block job that changes no snapshot (a pull into a running disk) is
 * about to run on disk target before the commit point; saved. Rolling back stops it. */
int vmsnap_journal_add_block_job(vmsnap_op *op, const char *target);
/* Records, just before the one libvirt call that moves the running disks onto their
 * overlays (disks: target -> overlay), the model the operation commits once they have
 * moved; saved. A crash (or a lost reply) leaves the truth with libvirt: recovery
 * rolls forward to this model when the domain's disks use the overlays, else back. */
int vmsnap_journal_expect_switch(vmsnap_op *op, const vmsnap_xml_disk_source *disks, size_t n,
                                 const vmsnap_domain_meta *after);
/* Rolls back the prepare phase now (for a failure, not a crash): removes created
 * files, restores the saved XML, clears the intent and saves. */
int vmsnap_journal_rollback(vmsnap_op *op);

/* Finish-phase steps, appended to the intent before vmsnap_journal_commit(). */
void vmsnap_journal_step_commit(vmsnap_op *op, const char *top, const char *base);
/* Rebases image onto backing; the step records the backing file image has now, which a
 * redo after an interruption puts back first. Fails when image's header cannot be read. */
int vmsnap_journal_step_rebase(vmsnap_op *op, const char *image, const char *backing, const char *format,
                               bool safe);
void vmsnap_journal_step_define(vmsnap_op *op, const char *xml);
/* The define of a merge's new disk sources: skipped when libvirt no longer defines the
 * domain by then, whose configuration before the merge still reads the same data. */
void vmsnap_journal_step_define_after_merge(vmsnap_op *op, const char *xml);
/* Commits image into base, the image below it in disk target's chain, while the domain
 * may run: a libvirt block job when it runs (active: image is the disk's active file,
 * pivoted onto base; else child is the image above it, whose backing libvirt moves to
 * base), qemu-img when it does not. Done once image has left the disk's chain. */
void vmsnap_journal_step_block_commit(vmsnap_op *op, const char *target, const char *image, const char *base,
                                      bool active, const char *child);
/* Pulls into disk target's active file image what it reads above base (NULL: all):
 * a libvirt block job when the domain runs, qemu-img rebase when it does not. */
int vmsnap_journal_step_block_pull(vmsnap_op *op, const char *target, const char *image, const char *base,
                                   const char *base_format);
/* Removes the RBD image vmsnap made for the domain once nothing needs it
 * (vmsnap_rbd_image_drop_unused); done once it is gone or needed. */
void vmsnap_journal_step_rbd_image_remove(vmsnap_op *op, const char *image_name, json_object *reach);
/* Removes vmsnap's RBD snapshot rbd_snapshot, then its image if that was a clone vmsnap
 * made that nothing needs any more; done once both are gone or needed. */
void vmsnap_journal_step_rbd_snapshot_remove(vmsnap_op *op, const char *rbd_snapshot, json_object *reach);
/* The same for every RBD disk of a snapshot that leaves the tree: such a disk needs no
 * merge, as its RBD snapshot is one of its own that neither the image nor the other
 * snapshots read. Each disk's cluster is reached now, while the snapshot's configuration
 * still names its image: one out of reach fails here, before anything changes. */
int vmsnap_journal_step_rbd_snapshots_remove(vmsnap_op *op, const vmsnap_snapshot *snapshot);
/* Starts the domain from a memory file with this XML (live.c), unless it runs. */
void vmsnap_journal_step_restore(vmsnap_op *op, const char *memory_file, const char *xml);
/* The commit point: saves op->meta (the final model) with the steps still to run,
 * then runs them, then clears the intent and collects garbage. */
int vmsnap_journal_commit(vmsnap_op *op);

/* Called when an operation begins (begin.h): finishes or rolls back the operation a crash
 * interrupted, when its intent is not a purge's (purge-finish.h). */
int vmsnap_journal_recover(vmsnap_op *op);

/* A clone's copies. A clone runs without its source domain's lock (snapshots may be taken
 * meanwhile) and its new domain has no metadata until libvirt defines it, so its intent
 * cannot stand in either domain's document: it is a file of its own in the state
 * directory, <state_dir>/clone-<uuid>.json, {"uuid", "name", "files": [path, ...], "rbd_images":
 * [{"image", "reach"}, ...] (rbd_images, taken over; NULL: none)}, written
 * before the first copy is created (*path_ret: the file, which the clone removes once its
 * domain is defined or its copies are removed). */
int vmsnap_journal_clone_prepare(const char *state_dir, const char *uuid, const char *name,
                                 const char *const *files, size_t n_files, json_object *rbd_images,
                                 char **path_ret, vmsnap_error *error);
/* At start: removes the copies of clones whose domain never got defined, and every clone
 * intent. */
void vmsnap_journal_recover_clones(vmsnap_engine *engine);
