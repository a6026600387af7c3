/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* chain.h: reading image headers and walking backing chains.
 * Reads only headers (tells qcow2 from raw and resolves backing names; the
 * qcow2 header's fields and extensions, and the cluster reader used by clone,
 * are qcow2.c's). This is the one place that follows a backing chain. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "image-header.h"
#include "vmsnap/vmsnap.h"

/* Reads the header of path. A file that does not start with the qcow2 magic is raw.
 * Refuses (with a sentence) a qcow2 header whose fields are out of range. */
int vmsnap_image_header_read(const char *path, vmsnap_image_header *ret, vmsnap_error *error);
/* The header of an image whose format is known from elsewhere: raw is raw whatever its first
 * bytes say; qcow2 must start with the qcow2 magic. NULL probes, as above. */
int vmsnap_image_header_read_as(const char *path, const vmsnap_image_format *format,
                                vmsnap_image_header *ret, vmsnap_error *error);
void vmsnap_image_header_clear(vmsnap_image_header *header);
/* The same for a file already open as fd (path names it in messages and anchors a relative
 * backing name). declared: the format a parent image declared for it (it is then not probed),
 * or NULL to probe. */
int vmsnap_image_header_read_fd(int fd, const char *path, const vmsnap_image_format *declared,
                                vmsnap_image_header *ret, vmsnap_error *error);

/* For a file that probes as raw: the name of another image format that its first bytes announce
 * (vmdk, vdi, vpc, vhdx, qed, luks, parallels, bochs, cloop), or NULL when it announces none and
 * is taken as raw. Only a probed file needs this; a declared raw one is raw. */
const char *vmsnap_image_foreign_format(int fd);

/* Calls visit for path and then each backing file down to the base, with depth 0
 * for path. Stops early when visit returns non-zero (that value is returned).
 * Detects loops and refuses chains deeper than 1024. Missing files are an error. */
typedef int (*vmsnap_chain_visit_fn)(const char *path, const vmsnap_image_header *header, unsigned depth,
                                     void *userdata);
int vmsnap_chain_walk(const char *path, vmsnap_chain_visit_fn visit, void *userdata, vmsnap_error *error);
/* The same for a top image whose format is known from elsewhere (a domain's <driver type=>,
 * a snapshot's record): it is read as that format, never probed, so a raw disk whose guest
 * wrote a qcow2 header into it stays raw. NULL probes, as vmsnap_chain_walk does. */
int vmsnap_chain_walk_as(const char *path, const vmsnap_image_format *top_format,
                         vmsnap_chain_visit_fn visit, void *userdata, vmsnap_error *error);
