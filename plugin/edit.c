/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* edit.c: the changes that touch only metadata: renaming a snapshot and
 * setting its description. One atomic store write each. */
#include <string.h>

#include "begin.h"
#include "create.h"
#include "error.h"
#include "util.h"

/* Finds the snapshot and applies one change to it under the domain's op. */
static int snapshot_edit(vmsnap_engine *engine, const char *domain, const char *snapshot,
                         int (*change)(vmsnap_op *op, vmsnap_snapshot *target, const char *text),
                         const char *text, vmsnap_error *error)
{
        vmsnap_snapshot *target;
        vmsnap_op *op;
        int r;

        r = vmsnap_op_begin(engine, domain, 0, NULL, &op, error);
        if (r < 0)
                return r;
        r = vmsnap_op_find_snapshot(op, snapshot, &target);
        if (r == 0)
                r = change(op, vmsnap_domain_meta_writable(op->meta, target->id), text);
        vmsnap_op_end(op);
        return r;
}

/* A new name must be free; the same name again writes nothing. */
static int rename_snapshot(vmsnap_op *op, vmsnap_snapshot *target, const char *new_name)
{
        int r = vmsnap_snapshot_name_check_free(op, new_name ? new_name : "", target);
        if (r < 0 || strcmp(target->name, new_name) == 0)
                return r;
        free(target->name);
        target->name = xstrdup(new_name);
        return vmsnap_op_save(op);
}

static int describe_snapshot(vmsnap_op *op, vmsnap_snapshot *target, const char *description)
{
        int r = vmsnap_description_validate(description ? description : "", op->error);
        if (r < 0)
                return r;
        free(target->description);
        target->description = xstrdup(description ? description : "");
        return vmsnap_op_save(op);
}

int vmsnap_snapshot_rename(vmsnap_engine *engine, const char *domain, const char *snapshot,
                           const char *new_name, vmsnap_error *error)
{
        return snapshot_edit(engine, domain, snapshot, rename_snapshot, new_name, error);
}

int vmsnap_snapshot_set_description(vmsnap_engine *engine, const char *domain, const char *snapshot,
                                    const char *description, vmsnap_error *error)
{
        return snapshot_edit(engine, domain, snapshot, describe_snapshot, description, error);
}
