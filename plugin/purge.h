/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* purge.h: Purge, the end of a domain libvirt no longer defines (or that it undefines
 * on request): every file vmsnap made for it, then its metadata, go. Its recovery is
 * called by the journal and, at engine start, for domains libvirt no longer defines. */
#pragma once

#include "op.h"

/* Finishes or rolls back the purge recorded in op->meta->intent: rolled back while
 * libvirt still defines the domain and the undefine had not happened, finished
 * otherwise. Sets op->purged when the metadata is gone. */
int vmsnap_purge_recover_op(vmsnap_op *op);
