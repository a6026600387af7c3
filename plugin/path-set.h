/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* path-set.h: a set of paths, and canonical paths for many files of few
 * directories. A walk over every chain of a domain of 1,000 snapshots asks
 * both a few thousand times: each answer costs one hash lookup, and one lstat()
 * per file instead of one per component of its path. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmsnap/vmsnap.h"

/* FNV-1a of a NUL-terminated path. */
uint64_t vmsnap_path_hash(const char *path);

typedef struct vmsnap_path_set {
        char **slots; /* open addressing; NULL: free */
        size_t size;  /* a power of two, or 0 */
        size_t n;
        bool borrowed; /* the paths are the caller's (vmsnap_path_set_add_borrowed) */
} vmsnap_path_set;

/* Adds path, which the set then owns: true; false when it was there already (path is
 * then freed). */
bool vmsnap_path_set_add(vmsnap_path_set *set, char *path);
/* Adds path, which stays the caller's and must outlive the set; a set holds either its
 * own paths or borrowed ones, never both. */
bool vmsnap_path_set_add_borrowed(vmsnap_path_set *set, const char *path);
bool vmsnap_path_set_contains(const vmsnap_path_set *set, const char *path);
void vmsnap_path_set_clear(vmsnap_path_set *set);

/* The directories resolved so far (their realpath), for vmsnap_path_canonical_in(). Lives
 * for one walk only: a directory renamed or replaced by a symlink after it was resolved
 * would not be seen. */
typedef struct vmsnap_resolved_dirs {
        char **dirs;
        char **resolved;
        size_t n;
} vmsnap_resolved_dirs;

/* What vmsnap_path_canonical gives (realpath, or for a missing file its resolved
 * directory and its name), with each directory resolved once per dirs: a file that is no
 * symlink is its resolved directory and its name. */
int vmsnap_path_canonical_in(vmsnap_resolved_dirs *dirs, const char *path, char **ret, vmsnap_error *error);
void vmsnap_resolved_dirs_clear(vmsnap_resolved_dirs *dirs);
