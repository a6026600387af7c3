/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* shared-tree.h: the tree of a domain whose disks are all RBD, kept in its cluster, so
 * that the vmsnapd of every host that shares the cluster sees one tree. The document
 * (model and intent, as store.h writes them) is the RADOS object vmsnap.domain.<uuid> in
 * the pool of the domain's first RBD disk, changed only under the domain's lease there
 * (rbd.h); the local store keeps a copy, which every operation first brings up to date.
 * A host that dies holding the lease renews it no more: after the lease the next host's
 * operation takes it and finishes or rolls back the intent it finds, as a restart would.
 * A domain with a file disk keeps its tree on its host only, in the local store. */
#pragma once

#include <stdbool.h>

#include "op.h"

/* At the start of an operation, with the domain's lock held and before its metadata is
 * loaded: for an RBD-only domain, reaches its cluster, takes the lease when lease is set
 * (else only reads: a read refreshes its copy), and makes the cluster's document the
 * local one when they differ (a local document the cluster does not have yet is
 * written there). Fails with Busy naming the holder when another host holds the lease. */
int vmsnap_shared_tree_begin(vmsnap_op *op, bool lease);
/* Whether the operation may change the domain's tree: a local one, or a shared one under
 * its lease. */
bool vmsnap_shared_tree_leased(const vmsnap_op *op);
/* After the local store saved op->meta (whole, or only its intent over the model saved
 * before: intent_only): the same document in the cluster, under the lease. */
int vmsnap_shared_tree_publish(vmsnap_op *op, bool intent_only);
/* At the end of the operation: the lease is released, or, when a test failpoint killed
 * the operation, left to run out as a dead host's would. */
void vmsnap_shared_tree_end(vmsnap_op *op);
/* Whether a read of the slot's metadata should bring its copy up to date first: a domain
 * whose tree lives in the cluster, not checked for a while, with no operation of this host
 * running. Call with the slot's data lock held. */
bool vmsnap_shared_tree_stale(vmsnap_domain_slot *slot);
