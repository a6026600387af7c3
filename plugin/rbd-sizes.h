/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rbd-sizes.h: what a domain's RBD snapshots occupy and what removing each would free,
 * added to the snapshot records' size and reclaimable beside what sizes.h counts for
 * files. An RBD snapshot holds the bytes written to its image between the image's
 * snapshot before it and it (the first one of an image vmsnap did not make counts 0, as
 * an original file does); removing it frees those of its objects that also changed after
 * it, unless a clone reads it. Figures of snapshots followed by another are kept, since
 * neither can change (whether a clone reads one is asked every time); those of the newest
 * are read again. */
#pragma once

#include "op.h"
#include "vmsnap/vmsnap.h"

/* Adds the RBD part to each record (op: the domain, its XML and metadata, for reaching
 * the clusters). An image whose cluster cannot be reached adds nothing. */
void vmsnap_rbd_sizes_add(vmsnap_op *op, vmsnap_snapshot_info *infos, size_t n);
/* The virtual size and own allocated bytes of each image record that names an RBD
 * snapshot ("rbd:pool[/namespace]/image@vmsnap-<id>"); others are left as they are. */
void vmsnap_rbd_image_infos_fill(vmsnap_op *op, vmsnap_image_info *images, size_t n);
