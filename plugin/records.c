/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* records.c: freeing the records the public API hands out (vmsnap.h): domain,
 * snapshot and image records. What fills them is query.c's, undefined.c's and
 * the operations' own. */
#include <stdlib.h>

#include "vmsnap/vmsnap.h"

void vmsnap_domain_info_clear(vmsnap_domain_info *info)
{
        free(info->name);
        free(info->uuid);
        free(info->state);
        free(info->current_snapshot);
        *info = (vmsnap_domain_info){0};
}

void vmsnap_domain_info_array_free(vmsnap_domain_info *array, size_t n)
{
        for (size_t i = 0; array && i < n; i++)
                vmsnap_domain_info_clear(&array[i]);
        free(array);
}

void vmsnap_snapshot_info_clear(vmsnap_snapshot_info *info)
{
        free(info->id);
        free(info->name);
        free(info->description);
        free(info->parent_id);
        free(info->state);
        free(info->consistency);
        for (size_t i = 0; i < info->n_disks; i++) {
                free(info->disks[i].target);
                free(info->disks[i].image);
                free(info->disks[i].format);
                free(info->disks[i].excluded_reason);
        }
        free(info->disks);
        for (size_t i = 0; i < info->n_children; i++)
                free(info->children_ids[i]);
        free(info->children_ids);
        *info = (vmsnap_snapshot_info){0};
}

void vmsnap_snapshot_info_array_free(vmsnap_snapshot_info *array, size_t n)
{
        for (size_t i = 0; array && i < n; i++)
                vmsnap_snapshot_info_clear(&array[i]);
        free(array);
}

void vmsnap_image_info_array_free(vmsnap_image_info *array, size_t n)
{
        for (size_t i = 0; array && i < n; i++) {
                free(array[i].target);
                free(array[i].image);
                free(array[i].format);
                free(array[i].ineligible_reason);
        }
        free(array);
}
