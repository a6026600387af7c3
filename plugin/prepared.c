/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepared.c: the files an operation recorded in its prepare phase before creating them,
 * removed when it is rolled back or its domain purged (see prepared.h): only what vmsnap
 * was creating there goes, and never a file the running domain reads. Recording them is
 * the journal's; deciding when to remove them is the rollback's or the purge's. */
#include <string.h>

#include "chain.h"
#include "error.h"
#include "fileio.h"
#include "live.h"
#include "prepared.h"
#include "rbd-disk.h"
#include "store.h"

/* A file the running domain reads now stays: a crash between libvirt's live snapshot
 * and the commit point leaves the domain on the new overlays, and removing them
 * would lose its writes. */
static bool used_by_running_domain(vmsnap_op *op, const char *path)
{
        bool used = false;

        if (!op->domain)
                return false; /* libvirt no longer defines it: nothing of it runs */
        if (vmsnap_live_uses(op, path, &used) < 0)
                return true; /* in doubt, keep */
        if (used)
                vmsnap_op_message(op, "%s was kept: the running domain %s uses it", path, op->name);
        return used;
}

/* Removes a file the prepare phase recorded, if it is what we made: a qcow2 overlay of
 * the recorded backing file. Anything else at that path is not ours and is left alone. */
static void remove_prepared_file(vmsnap_op *op, const char *path, const char *backing)
{
        vmsnap_image_header header = {0};
        vmsnap_error ignored;
        char *want = NULL, *have = NULL;

        if (!vmsnap_file_exists(path) || used_by_running_domain(op, path))
                return;
        /* An empty file is one we created whose qemu-img never ran; a qcow2 of no size and
         * no backing file is the first thing qemu-img create writes, killed before the rest
         * (both only where the file system has no unnamed files: see image.c). */
        if (vmsnap_image_header_read(path, &header, &ignored) == 0 && header.virtual_size == 0 &&
            ((header.format == VMSNAP_FORMAT_RAW && vmsnap_file_allocated(path) == 0) ||
             (header.format == VMSNAP_FORMAT_QCOW2 && !header.backing))) {
                vmsnap_file_remove(path, NULL);
                goto out;
        }
        vmsnap_image_header_clear(&header);
        if (vmsnap_image_header_read(path, &header, &ignored) < 0 || !header.backing)
                goto keep;
        if (vmsnap_path_canonical(header.backing, &have, NULL) < 0 ||
            vmsnap_path_canonical(backing, &want, NULL) < 0 || strcmp(have, want) != 0)
                goto keep;
        vmsnap_file_remove(path, NULL);
        goto out;
keep:
        vmsnap_op_message(op, "%s was left in place: it is not the overlay vmsnap was creating there", path);
out:
        vmsnap_image_header_clear(&header);
        free(want);
        free(have);
}

/* An RBD snapshot recorded before it was taken bears the new snapshot's id, and a clone
 * a new name marked with the domain's UUID: vmsnap's alone. One that cannot be removed
 * now (the cluster is out of reach) is named. */
static void remove_prepared_rbd(vmsnap_op *op, json_object *reach, const char *rbd_snapshot,
                                const char *rbd_clone)
{
        vmsnap_error error = {0}, *saved = op->error;

        op->error = &error;
        if (rbd_snapshot && vmsnap_rbd_snapshot_drop(op, reach, rbd_snapshot) < 0)
                vmsnap_op_message(op,
                                  "the RBD snapshot %s was left in place: %s; remove it with 'rbd snap rm'",
                                  rbd_snapshot, error.message);
        if (rbd_clone && vmsnap_rbd_image_drop(op, reach, rbd_clone) < 0)
                vmsnap_op_message(op, "the RBD image %s was left in place: %s; remove it with 'rbd rm'",
                                  rbd_clone, error.message);
        op->error = saved;
        vmsnap_error_clear(&error);
}

void vmsnap_prepared_file_remove(vmsnap_op *op, json_object *file)
{
        const char *path = vmsnap_json_string(file, "path");
        const char *backing = vmsnap_json_string(file, "backing");
        const char *rbd_snapshot = vmsnap_json_string(file, "rbd_snapshot");
        const char *rbd_clone = vmsnap_json_string(file, "rbd_clone");

        if (rbd_snapshot || rbd_clone) {
                remove_prepared_rbd(op, vmsnap_json_object(file, "reach"), rbd_snapshot, rbd_clone);
                return;
        }

        /* The path was free when recorded, so whatever is there now is libvirt's
         * unfinished memory file. */
        if (path && json_object_object_get_ex(file, "memory", NULL))
                vmsnap_file_remove(path, NULL);
        else if (path && backing)
                remove_prepared_file(op, path, backing);
}
