/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* edit.c: the changes that touch only metadata: renaming a snapshot and
 * setting its description. One atomic store write each. */
#include <string.h>

#include "create.h"
#include "op.h"
#include "error.h"

int vmsnap_snapshot_rename(vmsnap_engine *engine, const char *domain, const char *snapshot,
                           const char *new_name, vmsnap_error *error)
{
        vmsnap_snapshot *target;
        vmsnap_op *op;
        int r;

        r = vmsnap_op_begin(engine, domain, 0, NULL, &op, error);
        if (r < 0)
                return r;
        r = vmsnap_op_find_snapshot(op, snapshot, &target);
        if (r == 0)
                r = vmsnap_snapshot_name_check_free(op, new_name ? new_name : "", target);
        if (r == 0 && strcmp(target->name, new_name) != 0) {
                free(target->name);
                target->name = xstrdup(new_name);
                r = vmsnap_op_save(op);
        }
        vmsnap_op_end(op);
        return r;
}

int vmsnap_snapshot_set_description(vmsnap_engine *engine, const char *domain, const char *snapshot,
                                    const char *description, vmsnap_error *error)
{
        vmsnap_snapshot *target;
        vmsnap_op *op;
        int r;

        r = vmsnap_op_begin(engine, domain, 0, NULL, &op, error);
        if (r < 0)
                return r;
        r = vmsnap_op_find_snapshot(op, snapshot, &target);
        if (r == 0)
                r = vmsnap_description_validate(description ? description : "", error);
        if (r == 0) {
                free(target->description);
                target->description = xstrdup(description ? description : "");
                r = vmsnap_op_save(op);
        }
        vmsnap_op_end(op);
        return r;
}
