/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rbd-disk.h: a domain's RBD disks as the operations see them, over the librbd layer
 * (rbd.h): reaching the cluster a disk's XML names (its monitors, configuration file and
 * cephx secret from libvirt), and the frozen state of such a disk, an RBD snapshot named
 * "pool[/namespace]/image@vmsnap-<snapshot id>" in the model (model.h rbd_snapshot).
 * A build without RBD support refuses every call with a sentence saying so. */
#pragma once

#include <stdbool.h>

#include "op.h"

typedef struct vmsnap_rbd_disk vmsnap_rbd_disk;

/* The RBD disk of target in the domain XML xml, connected to its cluster: fails before
 * anything changes with the cluster's sentence when it cannot be reached, and with one
 * naming the disk when its secret cannot be read. */
int vmsnap_rbd_disk_open(vmsnap_op *op, const char *xml, const char *target, vmsnap_rbd_disk **ret);
/* The RBD disk that reads image "pool[/namespace]/image" (any snapshot of it), found in
 * the domain's XML now or in a snapshot's recorded one, for the steps that outlive the
 * disk's definition (a rollback, a delete after the disk was detached). */
int vmsnap_rbd_disk_open_image(vmsnap_op *op, const char *rbd_snapshot, vmsnap_rbd_disk **ret);
void vmsnap_rbd_disk_close(vmsnap_rbd_disk *disk);

/* "pool[/namespace]/image" of the disk. */
const char *vmsnap_rbd_disk_image_name(const vmsnap_rbd_disk *disk);

/* Safety rule 4 for an RBD disk: fails, naming them, when its image holds snapshots
 * vmsnap did not make. */
int vmsnap_rbd_disk_refuse_foreign_snapshots(vmsnap_op *op, vmsnap_rbd_disk *disk);

/* The model's name of the disk's frozen state at snapshot id (malloc'd). */
char *vmsnap_rbd_disk_snapshot_name(const vmsnap_rbd_disk *disk, const char *snapshot_id);

/* Takes the RBD snapshot for snapshot id. */
int vmsnap_rbd_disk_freeze(vmsnap_op *op, vmsnap_rbd_disk *disk, const char *snapshot_id);

/* Removes vmsnap's RBD snapshot rbd_snapshot (a model name); one that is gone already is
 * no error, so that a rollback or a step run again after a crash ends the same. */
int vmsnap_rbd_snapshot_drop(vmsnap_op *op, const char *rbd_snapshot);

/* Whether rbd_snapshot is a well-formed model name of one of vmsnap's RBD snapshots. */
bool vmsnap_rbd_snapshot_name_valid(const char *rbd_snapshot);
