/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fileio.h: the file-system primitives every other module goes through:
 * atomic writes of small documents, exclusive creation of new files with the
 * ownership of the file they derive from, and safe removal. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "vmsnap/vmsnap.h"

/* Writes data to path atomically: temp file in the same directory, fsync,
 * rename over path, fsync the directory. Mode 0600. */
/* pread until size bytes or the end of the file; *ret: the bytes read. -errno on failure. */
int vmsnap_pread_full(int fd, void *buffer, size_t size, uint64_t offset, size_t *ret);
/* pwrite until all size bytes are written; -errno on failure. */
int vmsnap_pwrite_full(int fd, const void *buffer, size_t size, uint64_t offset);

int vmsnap_file_write_atomic(const char *path, const char *data, size_t size, vmsnap_error *error);

/* Appends data to the existing regular file at path (never through a symlink, never
 * creating it: a new file is written with vmsnap_file_write_atomic) and flushes it
 * (fdatasync). A crash may leave part of data at the end; readers of such files skip a
 * torn last line. */
int vmsnap_file_append(const char *path, const char *data, size_t size, vmsnap_error *error);
/* The same, only when the file holds expected_size bytes (UINT64_MAX: any): -ESTALE, and
 * nothing written, when it holds another number, as when someone else wrote to it since. */
int vmsnap_file_append_at(const char *path, const char *data, size_t size, uint64_t expected_size,
                          vmsnap_error *error);

/* Reads a whole file into a NUL-terminated buffer. -ENOENT (error set) when missing. */
int vmsnap_file_read_all(const char *path, char **data_ret, size_t *size_ret, vmsnap_error *error);

/* Creates path as a new empty file: O_CREAT|O_EXCL|O_NOFOLLOW, never through a
 * symlink (the directory itself must not be a symlink either), with the owner, group
 * and mode of template_path (mode masked to at most 0660 | template's bits,
 * never more open than the template). Fails with -EEXIST if anything is at path. */
int vmsnap_file_create_like(const char *path, const char *template_path, vmsnap_error *error);

/* Opens a new unnamed file (O_TMPFILE) in the directory of path, with the owner, group
 * and mode vmsnap_file_create_like() would give it, for the caller to fill and then name
 * with vmsnap_file_link_unnamed(): the file appears at path complete or not at all, and a
 * crash before that leaves nothing behind. *fd_ret is the caller's to close. -EOPNOTSUPP
 * when the file system has no unnamed files. */
int vmsnap_file_create_unnamed_like(const char *path, const char *template_path, int *fd_ret,
                                    vmsnap_error *error);
/* Flushes the unnamed file fd and gives it the name path, never replacing anything that is
 * there (-EEXIST), then flushes the directory. */
int vmsnap_file_link_unnamed(int fd, const char *path, vmsnap_error *error);

/* Makes the regular file at path (not a symlink) owned by this process's user and
 * group with mode 0600, as the metadata is: for files whose content is no image's
 * (a memory state), so that no template's ownership applies. */
int vmsnap_file_make_private(const char *path, vmsnap_error *error);

/* Removes a regular file; missing files are not an error. Refuses symlinks. */
int vmsnap_file_remove(const char *path, vmsnap_error *error);

/* Absolute, symlink-free form of path (realpath); for a missing file, the
 * directory is resolved and the last component appended. */
int vmsnap_path_canonical(const char *path, char **ret, vmsnap_error *error);
/* path's canonical form, or a copy of path when it has none (a directory that is gone). */
char *vmsnap_path_canonical_or_copy(const char *path);

/* Opens the absolute directory path component by component with O_NOFOLLOW, so that
 * no symlink anywhere in it is followed; ".." is refused. *fd_ret: an O_PATH descriptor
 * of the directory; *normalized_ret (may be NULL): the path without "." or repeated
 * slashes, which is then its canonical form. */
int vmsnap_dir_open_nofollow(const char *path, int *fd_ret, char **normalized_ret, vmsnap_error *error);

/* st_blocks * 512 of path, 0 when missing. */
uint64_t vmsnap_file_allocated(const char *path);
/* The directory the last file was stated in, kept open: a domain's files mostly share
 * one, and walking the path from / to it again for each file is most of what stat(2)
 * costs with 1,000 of them. */
typedef struct vmsnap_stat_directory {
        char *path;
        size_t length;
        int fd; /* -1: not open (none yet, or it could not be opened); start with -1 */
} vmsnap_stat_directory;

struct stat;
/* stat(2) of path, relative to its directory when the previous path had the same one;
 * the same answer as stat(path), symbolic links followed. Paths given sorted share the most. */
bool vmsnap_stat_in_directory(vmsnap_stat_directory *directory, const char *path, struct stat *st);
void vmsnap_stat_directory_close(vmsnap_stat_directory *directory);

/* Allocated bytes of the files in paths that exist, stated in sorted order so that each
 * directory is walked to once. */
uint64_t vmsnap_files_allocated(char *const *paths, size_t n);

bool vmsnap_file_exists(const char *path);

/* mkdir -p with mode 0700 for the last component. */
int vmsnap_dir_ensure(const char *path, vmsnap_error *error);

/* Bytes available (f_bavail * f_frsize) on the file system holding dir; InvalidArgument
 * when dir is on a file system that cannot hold images (proc, sysfs, cgroup, ...). */
int vmsnap_dir_free_bytes(const char *dir, uint64_t *ret, vmsnap_error *error);
