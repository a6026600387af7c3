/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* guard.c: safety rule 4 (see guard.h): refuses domains whose snapshots libvirt
 * manages, or whose images hold qcow2 internal snapshots. */
#include <string.h>

#include "chain.h"
#include "error.h"
#include "guard.h"

struct internal_ctx {
        char *offender;
        uint32_t count;
};

static int find_internal(const char *path, const vmsnap_image_header *header, unsigned depth, void *userdata)
{
        struct internal_ctx *ctx = userdata;

        if (header->internal_snapshots == 0)
                return 0;
        ctx->offender = strdup(path);
        ctx->count = header->internal_snapshots;
        return 1;
}

int vmsnap_guard_no_foreign_snapshots(vmsnap_op *op)
{
        vmsnap_active_disk *disks = NULL;
        size_t n_disks = 0;
        int n, r;

        n = virDomainSnapshotNum(op->domain, 0);
        if (n > 0) {
                char *names[4] = {0};
                int listed = virDomainSnapshotListNames(op->domain, names, 4, 0);
                char list[512] = "";
                for (int i = 0; i < listed; i++) {
                        strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
                        strncat(list, names[i], sizeof(list) - strlen(list) - 1);
                        free(names[i]);
                }
                return vmsnap_error_set(
                        op->error, -EBUSY, VMSNAP_ERROR_UNSUPPORTED,
                        "domain %s has %d snapshot(s) managed by libvirt (%s%s); vmsnap does not "
                        "mix with them: delete them with 'virsh snapshot-delete %s NAME' or keep "
                        "managing this domain with virsh",
                        op->name, n, list, n > listed ? ", ..." : "", op->name);
        }

        r = vmsnap_op_active_disks(op, &disks, &n_disks);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_disks; i++) {
                struct internal_ctx ctx = {0};
                vmsnap_error ignored;

                if (vmsnap_chain_walk(disks[i].source, find_internal, &ctx, &ignored) == 1) {
                        r = vmsnap_error_set(op->error, -EBUSY, VMSNAP_ERROR_UNSUPPORTED,
                                             "image %s (disk %s of domain %s) holds %u qcow2 internal "
                                             "snapshot(s); vmsnap does not mix with them: list them with "
                                             "'qemu-img snapshot -l %s' and remove them first",
                                             ctx.offender, disks[i].target, op->name, ctx.count,
                                             ctx.offender);
                        free(ctx.offender);
                        break;
                }
        }
        vmsnap_active_disks_free(disks, n_disks);
        return r;
}
