/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rbd-disk.h: a domain's RBD disks as the operations see them, over the librbd layer
 * (rbd.h): reaching the cluster a disk's XML names (its monitors, configuration file and
 * cephx secret from libvirt), and the frozen state of such a disk, an RBD snapshot named
 * "pool[/namespace]/image@vmsnap-<snapshot id>" in the model (model.h rbd_snapshot).
 * A build without RBD support refuses every call with a sentence saying so. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>

#include "op.h"

typedef struct vmsnap_rbd_disk vmsnap_rbd_disk;

/* The RBD disk of target in the domain XML xml, connected to its cluster: fails before
 * anything changes with the cluster's sentence when it cannot be reached, and with one
 * naming the disk when its secret cannot be read. */
int vmsnap_rbd_disk_open(vmsnap_op *op, const char *xml, const char *target, vmsnap_rbd_disk **ret);
/* How to reach a disk's cluster (its monitors, configuration file, user and secret), as
 * the journal records it beside a step, so that the step reaches the cluster also once no
 * configuration of the domain names the image (an undone preview's clone). */
json_object *vmsnap_rbd_disk_reach(const vmsnap_rbd_disk *disk);
/* The cluster of image "pool[/namespace]/image" (or of a snapshot of it, "…@snapshot"):
 * through reach when it is not NULL, else through the RBD disk that names the image in the
 * domain's XML now, before its preview or in a snapshot's recorded one. The functions
 * below that take a reach find their cluster this way. */
int vmsnap_rbd_disk_open_image(vmsnap_op *op, json_object *reach, const char *name, vmsnap_rbd_disk **ret);
void vmsnap_rbd_disk_close(vmsnap_rbd_disk *disk);

/* "pool[/namespace]/image" of the disk. */
const char *vmsnap_rbd_disk_image_name(const vmsnap_rbd_disk *disk);
/* The disk's pool as rbd.h names it, "pool" or "pool/namespace" (malloc'd). */
char *vmsnap_rbd_disk_pool(const vmsnap_rbd_disk *disk);
/* The connection to the disk's cluster, which lives as long as the disk. */
struct vmsnap_rbd_cluster *vmsnap_rbd_disk_cluster(const vmsnap_rbd_disk *disk);

/* Safety rule 4 for an RBD disk: fails, naming them, when its image holds snapshots
 * vmsnap did not make. */
int vmsnap_rbd_disk_refuse_foreign_snapshots(vmsnap_op *op, vmsnap_rbd_disk *disk);

/* The model's name of the disk's frozen state at snapshot id (malloc'd). */
char *vmsnap_rbd_disk_snapshot_name(const vmsnap_rbd_disk *disk, const char *snapshot_id);

/* Takes the RBD snapshot for snapshot id. */
int vmsnap_rbd_disk_freeze(vmsnap_op *op, vmsnap_rbd_disk *disk, const char *snapshot_id);

/* Removes vmsnap's RBD snapshot rbd_snapshot (a model name); one that is gone already is
 * no error, so that a rollback or a step run again after a crash ends the same. */
int vmsnap_rbd_snapshot_drop(vmsnap_op *op, json_object *reach, const char *rbd_snapshot);

/* A new name for a clone of rbd_snapshot, in its image's pool: the image's name with a
 * suffix ".<8 hex digits>" (replacing one it has), "pool[/namespace]/image.1a2b3c4d". */
char *vmsnap_rbd_clone_name_new(const char *rbd_snapshot);
/* Makes clone_name, a copy-on-write clone of rbd_snapshot marked as owner's (a domain
 * UUID), in any pool of the same cluster. */
int vmsnap_rbd_snapshot_clone(vmsnap_op *op, json_object *reach, const char *rbd_snapshot,
                              const char *clone_name, const char *owner);
/* Fails, naming it, when image "pool[/namespace]/image" exists already. */
int vmsnap_rbd_image_check_free(vmsnap_op *op, json_object *reach, const char *image_name);
/* Copies the parent's data into the clone image_name so that it stands alone: progress in
 * bytes and cancel through hooks (a canceled flatten leaves the clone reading the same). */
int vmsnap_rbd_image_flatten_named(vmsnap_op *op, json_object *reach, const char *image_name,
                                   const vmsnap_hooks *hooks);
/* Removes image_name if vmsnap made it for owner and it has no snapshots; one that is gone
 * is no error. For a clone's copies, whose domain has no metadata: reach is required. */
int vmsnap_rbd_image_remove_owned(vmsnap_op *op, json_object *reach, const char *image_name,
                                  const char *owner);
/* Removes image "pool[/namespace]/image" if vmsnap made it for this domain and it has no
 * snapshots; otherwise it stays and this returns 0. One that is gone is no error. */
int vmsnap_rbd_image_drop(vmsnap_op *op, json_object *reach, const char *image_name);
/* The same once nothing needs it: also an image that a configuration of the domain names
 * (now, before its preview, in a snapshot) stays. */
int vmsnap_rbd_image_drop_unused(vmsnap_op *op, json_object *reach, const char *image_name);

/* Whether rbd_snapshot is a well-formed model name of one of vmsnap's RBD snapshots. */
bool vmsnap_rbd_snapshot_name_valid(const char *rbd_snapshot);
