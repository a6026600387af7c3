/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* image.h: the changes vmsnap makes to image files: creating an overlay (written
 * by vmsnap itself), rebasing an image onto another backing file and committing an
 * image into its backing file (each through qemu-img). Policy (which file, whether it
 * may be touched) is the caller's; this module only does the one change. */
#pragma once

#include <stdbool.h>
#include "vmsnap/vmsnap.h"

/* Creates path as a new qcow2 overlay of backing (format backing_format), with the
 * owner, group and mode of backing (safety rule 3). Fails with -EEXIST if path exists. */
int vmsnap_image_create_overlay(const char *path, const char *backing, const char *backing_format,
                                vmsnap_error *error);

/* Points image at new_backing (NULL: no backing file). safe: copy into image every
 * cluster where the old and the new backing differ, so its content is unchanged;
 * unsafe: change only the header (the caller knows both read the same). */
int vmsnap_image_rebase(const char *image, const char *new_backing, const char *new_backing_format,
                        bool safe, const vmsnap_hooks *hooks, vmsnap_error *error);

/* Writes the data of top into base, a file of its backing chain; top is left as it was
 * (it is about to be removed). When base is top's own backing file and every cluster the
 * commit writes is written whole, qemu-img opens those two files only, not what lies below
 * base, whose opening costs more the deeper the chain is. */
int vmsnap_image_commit(const char *top, const char *base, const vmsnap_hooks *hooks, vmsnap_error *error);

/* Gives back the clusters a qcow2 image allocated but never mapped, as an interrupted
 * qemu-img leaves them (qemu-img check -r leaks); nothing else is changed. */
int vmsnap_image_repair_leaks(const char *image, vmsnap_error *error);

/* Chooses the path of a new overlay on top of leaf: in leaf's directory, named after
 * the disk's original file ("disk.qcow2" -> "disk.vmsnap-1a2b3c4d.qcow2", the tag
 * replaced rather than stacked on later overlays). The path does not exist yet. */
int vmsnap_image_overlay_path(const char *leaf, char **ret, vmsnap_error *error);
