/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* purge-finish.h: the half of a purge past its point of no return, which Purge runs
 * (purge.c) and so does the recovery of a purge a crash interrupted, for domains
 * libvirt no longer defines too (begin.h runs it when an operation begins). */
#pragma once

#include "op.h"

/* Removes the files op->meta->intent lists ("remove", "prepared"), except those that must
 * stay after all (another domain's chain contains them, a forgotten image reads them, the
 * domain defined again uses them), then the domain's metadata; sets op->purged. Every
 * removal can run again: a file already gone is fine. */
int vmsnap_purge_finish(vmsnap_op *op);

/* Finishes or rolls back the purge recorded in op->meta->intent: rolled back while
 * libvirt still defines the domain and the undefine had not happened, finished
 * otherwise. Sets op->purged when the metadata is gone. */
int vmsnap_purge_recover(vmsnap_op *op);
