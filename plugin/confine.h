/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* confine.h: where new files may go (safety rule 6): a clone writes only beside the
 * source domain's images, into libvirt's active dir pools, or into directories the
 * administrator lists in the clone-targets file, reached without any symlink. */
#pragma once

#include <libvirt/libvirt.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "vmsnap/vmsnap.h"

/* The administrator's list of further clone directories: one absolute directory per
 * line, '#' starts a comment line, blank lines are ignored. Read at every clone, so an
 * edit applies at once; used only while owned by root (or by the user the engine runs
 * as) and not writable by group or others. */
#define VMSNAP_CLONE_TARGETS_FILE "/etc/vmsnap/clone-targets"

typedef struct vmsnap_place {
        char *dir; /* as shown in messages */
        dev_t device;
        ino_t inode;
} vmsnap_place;

/* The directories a clone may write into, each known by its device and inode. */
typedef struct vmsnap_places {
        vmsnap_place *images; /* directories of the source domain's images (and NVRAM) */
        size_t n_images;
        vmsnap_place *pools; /* directories of libvirt's active dir pools */
        size_t n_pools;
        vmsnap_place *configured; /* listed in the clone-targets file */
        size_t n_configured;
        char *config_path;
        char *config_problem; /* why the file is not used, NULL when it is (or is missing) */
} vmsnap_places;

/* Gathers the places: the directories of image_paths (existing ones), libvirt's
 * active dir pools on connection, and the clone-targets file at config_path (NULL:
 * VMSNAP_CLONE_TARGETS_FILE). A file that cannot be trusted is not an error here: its
 * problem is told when a target is refused. */
int vmsnap_places_gather(virConnectPtr connection, const char *const *image_paths, size_t n_image_paths,
                         const char *config_path, vmsnap_places *ret, vmsnap_error *error);
void vmsnap_places_clear(vmsnap_places *places);

/* Refuses with InvalidArgument, naming the allowed places, unless dir (walked as
 * vmsnap_dir_open_nofollow does) is one of places. *canonical_ret: its canonical path.
 * what names the directory in messages ("the clone's target directory"). *st_ret (may be
 * NULL): the directory's stat, for vmsnap_collapse_item's dir_device and dir_inode. */
int vmsnap_places_check(const vmsnap_places *places, const char *dir, const char *what, char **canonical_ret,
                        struct stat *st_ret, vmsnap_error *error);

/* The directory of the active libvirt storage pool of type dir named pool_name
 * (canonical), or NotFound / InvalidArgument saying why it is not one. */
int vmsnap_pool_dir(virConnectPtr connection, const char *pool_name, char **ret, vmsnap_error *error);
