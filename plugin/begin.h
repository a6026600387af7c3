/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* begin.h: the beginning of an operation: the domain resolved and locked, its metadata
 * loaded, what a crash interrupted finished or rolled back (journal.h, purge-finish.h),
 * what the operation requires checked. The operation object and its end: op.h. */
#pragma once

#include "op.h"

/* What an operation requires of the domain before it may start. */
typedef enum vmsnap_op_flags {
        VMSNAP_OP_SHUT_OFF = 1 << 0,             /* the domain must not be running */
        VMSNAP_OP_NO_PREVIEW = 1 << 1,           /* refused while a preview runs */
        VMSNAP_OP_IN_PREVIEW = 1 << 2,           /* requires a running preview */
        VMSNAP_OP_NO_FOREIGN_SNAPSHOTS = 1 << 3, /* safety rule 4, on the active images */
        /* The domain may be one libvirt no longer defines, known only by the metadata the
         * state directory keeps (vmsnap_engine_lookup_kept): op->domain and op->xml are then
         * NULL, op->disks empty, and only an unfinished purge is recovered (purge-finish.h). The
         * other flags apply to a defined domain only. */
        VMSNAP_OP_UNDEFINED_OK = 1 << 4,
        /* Safety rule 4 on every image of the active chains, for operations that remove them
         * all; implies VMSNAP_OP_NO_FOREIGN_SNAPSHOTS. */
        VMSNAP_OP_NO_FOREIGN_IN_CHAINS = 1 << 5,
        /* A read that brings the domain's metadata up to date: a tree kept in the cluster
         * (shared-tree.h) is read without its lease, and an unfinished operation found
         * there is left to the next change, which holds the lease. */
        VMSNAP_OP_READ = 1 << 6,
} vmsnap_op_flags;

/* Resolves the domain (name or UUID), takes its op lock, loads and recovers its
 * metadata, and checks flags; vmsnap_op_end ends what it began. */
int vmsnap_op_begin(vmsnap_engine *engine, const char *domain, unsigned flags, const vmsnap_hooks *hooks,
                    vmsnap_op **ret, vmsnap_error *error);
