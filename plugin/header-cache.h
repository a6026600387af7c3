/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* header-cache.h: image headers already read, kept per process and given again
 * only while the file is provably the one they were read from (same device, inode,
 * size, modification and change time). A file changed less than two seconds
 * before its header was read is never kept: a write in the same clock tick would
 * leave its times as they were (git's "racy" rule for its index). chain.c asks
 * here before it opens an image, so a walk down a deep chain of frozen images
 * costs a stat() per image. */
#pragma once

#include <stdbool.h>
#include <sys/stat.h>

#include "image-header.h"

/* The header of path as read under forced (NULL: probed) when st, a stat() of path
 * taken now, still describes the file it was read from: a copy in *ret, true. */
bool vmsnap_header_cache_get(const char *path, const struct stat *st, const vmsnap_image_format *forced,
                             vmsnap_image_header *ret);

/* Keeps a copy of header, read from path under forced while st described it. */
void vmsnap_header_cache_put(const char *path, const struct stat *st, const vmsnap_image_format *forced,
                             const vmsnap_image_header *header);

/* How many headers were given from here since the process started (tests, benchmarks). */
unsigned long vmsnap_header_cache_hits(void);

/* Forgets every header (tests; a process that wants to read every header again). */
void vmsnap_header_cache_clear(void);
