/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fileio.c: the file-system primitives the engine goes through: atomic writes
 * of metadata documents, whole-file reads, exclusive creation of image files
 * owned like the image they derive from, safe removal, paths and free space.
 * What the files contain is left to the callers. */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "error.h"
#include "failpoint.h"
#include "fileio.h"

/* Splits path into a freshly allocated directory part (path_dirname()) and a pointer
 * to the last component inside path. Trailing slashes are not expected: callers name
 * files, not directories. */
static void path_split(const char *path, char **dir_ret, const char **base_ret)
{
        const char *slash = strrchr(path, '/');

        *dir_ret = path_dirname(path);
        *base_ret = slash ? slash + 1 : path;
}

static int write_all(int fd, const char *data, size_t size)
{
        while (size > 0) {
                ssize_t n = write(fd, data, size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                data += n;
                size -= (size_t)n;
        }
        return 0;
}

static int fsync_directory(const char *dir)
{
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                return -errno;
        return 0;
}

int vmsnap_file_write_atomic(const char *path, const char *data, size_t size, vmsnap_error *error)
{
        _cleanup_free_ char *dir = NULL, *temp_path = NULL;
        _cleanup_close_ int fd = -EBADF;
        const char *base;
        int r;

        if (!path || path[0] == '\0' || (!data && size > 0))
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "cannot write a file without a path or data");
        if (vmsnap_failpoint_dead())
                return vmsnap_failpoint_dead_error(error);

        path_split(path, &dir, &base);
        if (base[0] == '\0')
                return vmsnap_error_set(error, -EISDIR, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "cannot write %s: it names a directory, not a file", path);

        /* The temporary file lives beside the target so that rename() stays on one file system. */
        temp_path = xasprintf("%s/.%s.XXXXXX", dir, base);

        fd = mkostemp(temp_path, O_CLOEXEC);
        if (fd < 0)
                return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED,
                                        "cannot create a temporary file in %s: %m", dir);

        if (fchmod(fd, 0600) < 0) {
                r = -errno;
                goto fail;
        }
        r = write_all(fd, data, size);
        if (r < 0)
                goto fail;
        if (fsync(fd) < 0) {
                r = -errno;
                goto fail;
        }
        r = close(fd);
        fd = -EBADF;
        if (r < 0) {
                r = -errno;
                goto fail;
        }
        if (rename(temp_path, path) < 0) {
                r = -errno;
                goto fail;
        }

        r = fsync_directory(dir);
        if (r < 0)
                return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED,
                                        "wrote %s but could not flush its directory: %s", path,
                                        strerror(-r));
        return 0;

fail:
        (void)unlink(temp_path);
        return vmsnap_error_set(error, r,
                                r == -ENOSPC || r == -EDQUOT ? VMSNAP_ERROR_NO_SPACE : VMSNAP_ERROR_FAILED,
                                "cannot write %s: %s", path, strerror(-r));
}

int vmsnap_file_append(const char *path, const char *data, size_t size, vmsnap_error *error)
{
        return vmsnap_file_append_at(path, data, size, UINT64_MAX, error);
}

int vmsnap_file_append_at(const char *path, const char *data, size_t size, uint64_t expected_size,
                          vmsnap_error *error)
{
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int r;

        if (vmsnap_failpoint_dead())
                return vmsnap_failpoint_dead_error(error);
        fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return vmsnap_error_set(error, -errno,
                                        errno == ENOENT ? VMSNAP_ERROR_NOT_FOUND : VMSNAP_ERROR_FAILED,
                                        "cannot open %s to append to it: %m", path);
        if (expected_size != UINT64_MAX) {
                if (fstat(fd, &st) < 0)
                        return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED, "cannot stat %s: %m",
                                                path);
                if ((uint64_t)st.st_size != expected_size)
                        return vmsnap_error_set(error, -ESTALE, VMSNAP_ERROR_FAILED,
                                                "%s holds %" PRIu64 " bytes, not the %" PRIu64 " expected",
                                                path, (uint64_t)st.st_size, expected_size);
        }
        r = write_all(fd, data, size);
        if (r == 0 && fdatasync(fd) < 0)
                r = -errno;
        if (r < 0)
                return vmsnap_error_set(
                        error, r, r == -ENOSPC || r == -EDQUOT ? VMSNAP_ERROR_NO_SPACE : VMSNAP_ERROR_FAILED,
                        "cannot append to %s: %s", path, strerror(-r));
        return 0;
}

int vmsnap_file_read_all(const char *path, char **data_ret, size_t *size_ret, vmsnap_error *error)
{
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *data = NULL;
        size_t size = 0, allocated = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                if (errno == ENOENT)
                        return vmsnap_error_set(error, -ENOENT, VMSNAP_ERROR_NOT_FOUND, "%s does not exist",
                                                path);
                return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED, "cannot open %s: %m", path);
        }

        for (;;) {
                ssize_t n;

                if (allocated - size < 2) {
                        size_t grown = allocated ? allocated * 2 : 4096;
                        char *p;

                        if (grown < allocated)
                                return vmsnap_error_set(error, -EFBIG, VMSNAP_ERROR_FAILED,
                                                        "%s is too large to read into memory", path);
                        p = realloc(data, grown);
                        if (!p)
                                return vmsnap_error_set(error, -ENOMEM, VMSNAP_ERROR_FAILED,
                                                        "out of memory reading %s", path);
                        data = p;
                        allocated = grown;
                }

                n = read(fd, data + size, allocated - size - 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED, "cannot read %s: %m",
                                                path);
                }
                if (n == 0)
                        break;
                size += (size_t)n;
        }

        data[size] = '\0';
        *data_ret = data;
        data = NULL;
        if (size_ret)
                *size_ret = size;
        return 0;
}

/* The parent directory of a file about to be created, opened without following a symlink in
 * its last component, and the template whose owner, group and mode the file takes. */
typedef struct creation {
        char *dir;
        const char *base;
        int dir_fd;
        struct stat template_stat;
        mode_t mode;
} creation;

static void creation_clear(creation *c)
{
        free(c->dir);
        if (c->dir_fd >= 0)
                close(c->dir_fd);
}

static int creation_begin(creation *c, const char *path, const char *template_path, vmsnap_error *error)
{

        *c = (creation){.dir_fd = -EBADF};
        if (vmsnap_failpoint_dead())
                return vmsnap_failpoint_dead_error(error);
        if (!path || !template_path || path[0] == '\0')
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "cannot create a file without a path and a template");

        if (stat(template_path, &c->template_stat) < 0)
                return vmsnap_error_set(error, -errno,
                                        errno == ENOENT ? VMSNAP_ERROR_NOT_FOUND : VMSNAP_ERROR_FAILED,
                                        "cannot create %s like %s: %m", path, template_path);

        /* Never more open than the template: only its read/write bits carry over,
         * no execute, setuid, setgid or sticky bits. */
        c->mode = c->template_stat.st_mode & 0666;

        path_split(path, &c->dir, &c->base);
        if (c->base[0] == '\0' || strcmp(c->base, ".") == 0 || strcmp(c->base, "..") == 0)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "cannot create %s: it does not name a file", path);

        /* The directory is opened without following a symlink in its last component, and
         * the file itself is created relative to that descriptor, so that nobody can swap a
         * symlink in between. Callers pass canonical paths (vmsnap_path_canonical). */
        c->dir_fd = open(c->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (c->dir_fd < 0) {
                if (errno == ELOOP || errno == ENOTDIR)
                        return vmsnap_error_set(error, -ELOOP, VMSNAP_ERROR_FAILED,
                                                "refusing to create %s: its directory %s is a symbolic link "
                                                "or not a directory",
                                                path, c->dir);
                return vmsnap_error_set(error, -errno,
                                        errno == ENOENT ? VMSNAP_ERROR_NOT_FOUND : VMSNAP_ERROR_FAILED,
                                        "cannot open directory %s: %m", c->dir);
        }
        return 0;
}

static int creation_refused(const char *path, int errno_value, vmsnap_error *error)
{
        if (errno_value == EEXIST)
                return vmsnap_error_set(error, -EEXIST, VMSNAP_ERROR_FAILED,
                                        "cannot create %s: something already exists at that path", path);
        return vmsnap_error_set(error, -errno_value,
                                errno_value == ENOSPC || errno_value == EDQUOT ? VMSNAP_ERROR_NO_SPACE
                                                                               : VMSNAP_ERROR_FAILED,
                                "cannot create %s: %s", path, strerror(errno_value));
}

/* Gives the new file fd the template's owner, group and mode. */
static int creation_give(const creation *c, int fd, const char *path, const char *template_path,
                         vmsnap_error *error)
{
        /* Only root may give a file away; an unprivileged caller keeps its own ownership
         * (and may still pick one of its groups). */
        if (fchown(fd, c->template_stat.st_uid, c->template_stat.st_gid) < 0 &&
            (errno != EPERM || geteuid() == 0))
                return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED,
                                        "cannot give %s the owner of %s: %m", path, template_path);
        /* The umask may have narrowed the mode given to openat(); make it exactly the template's. */
        if (fchmod(fd, c->mode) < 0)
                return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED, "cannot set the mode of %s: %m",
                                        path);
        return 0;
}

int vmsnap_file_create_like(const char *path, const char *template_path, vmsnap_error *error)
{
        _cleanup_(creation_clear) creation c = {.dir_fd = -EBADF};
        _cleanup_close_ int fd = -EBADF;
        int r;

        r = creation_begin(&c, path, template_path, error);
        if (r < 0)
                return r;
        fd = openat(c.dir_fd, c.base, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC | O_NOCTTY,
                    c.mode);
        if (fd < 0)
                return creation_refused(path, errno, error);
        r = creation_give(&c, fd, path, template_path, error);
        if (r < 0)
                (void)unlinkat(c.dir_fd, c.base, 0);
        return r;
}

int vmsnap_file_create_unnamed_like(const char *path, const char *template_path, int *fd_ret,
                                    vmsnap_error *error)
{
        _cleanup_(creation_clear) creation c = {.dir_fd = -EBADF};
        _cleanup_close_ int fd = -EBADF;
        int r;

        r = creation_begin(&c, path, template_path, error);
        if (r < 0)
                return r;
        fd = openat(c.dir_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, c.mode);
        if (fd < 0) {
                /* Kernels and file systems without unnamed files say so in several ways. */
                if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)
                        return vmsnap_error_set(error, -EOPNOTSUPP, VMSNAP_ERROR_UNSUPPORTED,
                                                "the file system of %s has no unnamed files", c.dir);
                return creation_refused(path, errno, error);
        }
        r = creation_give(&c, fd, path, template_path, error);
        if (r < 0)
                return r;
        *fd_ret = fd;
        fd = -EBADF;
        return 0;
}

int vmsnap_file_link_unnamed(int fd, const char *path, vmsnap_error *error)
{
        _cleanup_free_ char *dir = NULL;
        _cleanup_close_ int dir_fd = -EBADF;
        const char *base;
        char self[64];

        if (vmsnap_failpoint_dead())
                return vmsnap_failpoint_dead_error(error);
        /* The content reaches the disk before the name does: a crash leaves no half file. */
        if (fsync(fd) < 0)
                return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED, "cannot flush %s: %m", path);
        path_split(path, &dir, &base);
        dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dir_fd < 0)
                return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED, "cannot open directory %s: %m",
                                        dir);
        /* Through /proc rather than AT_EMPTY_PATH, which needs CAP_DAC_READ_SEARCH. linkat()
         * never replaces what is at the new name, a symlink included. */
        snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
        if (linkat(AT_FDCWD, self, dir_fd, base, AT_SYMLINK_FOLLOW) < 0)
                return creation_refused(path, errno, error);
        if (fsync(dir_fd) < 0)
                return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED, "cannot flush directory %s: %m",
                                        dir);
        return 0;
}

int vmsnap_file_make_private(const char *path, vmsnap_error *error)
{
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED, "cannot open %s: %m", path);
        if (fstat(fd, &st) < 0)
                return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED,
                                        "cannot read the status of %s: %m", path);
        if (!S_ISREG(st.st_mode))
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_FAILED, "%s is not a regular file",
                                        path);
        /* Through the descriptor: the file checked is the file changed. */
        if ((st.st_uid != geteuid() || st.st_gid != getegid()) && fchown(fd, geteuid(), getegid()) < 0)
                return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED,
                                        "cannot take ownership of %s: %m", path);
        if ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0)
                return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED, "cannot make %s private: %m",
                                        path);
        return 0;
}

int vmsnap_file_remove(const char *path, vmsnap_error *error)
{
        struct stat st;

        if (vmsnap_failpoint_dead())
                return vmsnap_failpoint_dead_error(error);
        if (lstat(path, &st) < 0) {
                if (errno == ENOENT)
                        return 0;
                return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED, "cannot remove %s: %m", path);
        }

        if (S_ISLNK(st.st_mode))
                return vmsnap_error_set(error, -ELOOP, VMSNAP_ERROR_FAILED,
                                        "refusing to remove %s: it is a symbolic link, not an image file",
                                        path);
        if (S_ISDIR(st.st_mode))
                return vmsnap_error_set(error, -EISDIR, VMSNAP_ERROR_FAILED,
                                        "refusing to remove %s: it is a directory, not an image file", path);
        if (!S_ISREG(st.st_mode))
                return vmsnap_error_set(error, -EPERM, VMSNAP_ERROR_FAILED,
                                        "refusing to remove %s: it is not a regular file", path);

        /* Should the file be replaced by a symlink between lstat() and here, unlink() removes
         * the link itself and never what it points to. */
        if (unlink(path) < 0 && errno != ENOENT)
                return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED, "cannot remove %s: %m", path);

        return 0;
}

/* Why a component could not be opened as a directory without following it. */
static int walk_refuse(int parent, const char *component, int saved_errno, const char *path,
                       vmsnap_error *error)
{
        struct stat st;

        if (fstatat(parent, component, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                if (S_ISLNK(st.st_mode))
                        return vmsnap_error_set(error, -ELOOP, VMSNAP_ERROR_INVALID_ARGUMENT,
                                                "%s is reached through the symbolic link \"%s\"; give the "
                                                "directory's own path, without symbolic links",
                                                path, component);
                if (!S_ISDIR(st.st_mode))
                        return vmsnap_error_set(error, -ENOTDIR, VMSNAP_ERROR_INVALID_ARGUMENT,
                                                "%s is not a directory (\"%s\" is not one); new files "
                                                "go into an existing directory",
                                                path, component);
        }
        if (saved_errno == ENOENT)
                return vmsnap_error_set(error, -ENOENT, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "%s is not a directory (\"%s\" does not exist); new files "
                                        "go into an existing directory",
                                        path, component);
        return vmsnap_error_set(error, -saved_errno, VMSNAP_ERROR_INVALID_ARGUMENT, "cannot open %s: %s",
                                path, strerror(saved_errno));
}

int vmsnap_dir_open_nofollow(const char *path, int *fd_ret, char **normalized_ret, vmsnap_error *error)
{
        _cleanup_free_ char *copy = NULL, *normalized = NULL;
        size_t used = 0;
        char *saveptr = NULL;
        int fd;

        if (!path || path[0] != '/')
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "\"%s\" is not an absolute directory path", path ? path : "");
        copy = xstrdup(path);
        normalized = xcalloc(1, strlen(path) + 2);
        fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED, "cannot open /: %m");
        for (char *c = strtok_r(copy, "/", &saveptr); c; c = strtok_r(NULL, "/", &saveptr)) {
                if (strcmp(c, ".") == 0)
                        continue;
                if (strcmp(c, "..") == 0) {
                        close(fd);
                        return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                                "%s contains \"..\"; give the directory's own path", path);
                }
                int next = openat(fd, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (next < 0) {
                        int r = walk_refuse(fd, c, errno, path, error);
                        close(fd);
                        return r;
                }
                close(fd);
                fd = next;
                normalized[used++] = '/';
                memcpy(normalized + used, c, strlen(c));
                used += strlen(c);
        }
        if (used == 0)
                normalized[used++] = '/';
        *fd_ret = fd;
        if (normalized_ret) {
                *normalized_ret = normalized;
                normalized = NULL;
        }
        return 0;
}

int vmsnap_path_canonical(const char *path, char **ret, vmsnap_error *error)
{
        _cleanup_free_ char *copy = NULL, *dir = NULL, *resolved_dir = NULL;
        const char *base;
        char *resolved;
        size_t length;

        if (!path || path[0] == '\0')
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT, "the path is empty");

        resolved = realpath(path, NULL);
        if (resolved) {
                *ret = resolved;
                return 0;
        }
        if (errno != ENOENT)
                return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED, "cannot resolve %s: %m", path);

        /* A file that does not exist yet: resolve its directory and keep the last component. */
        copy = xstrdup(path);
        length = strlen(copy);
        while (length > 1 && copy[length - 1] == '/')
                copy[--length] = '\0';

        path_split(copy, &dir, &base);
        if (base[0] == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
                return vmsnap_error_set(error, -ENOENT, VMSNAP_ERROR_NOT_FOUND, "cannot resolve %s: %m",
                                        path);

        resolved_dir = realpath(dir, NULL);
        if (!resolved_dir)
                return vmsnap_error_set(error, -errno,
                                        errno == ENOENT ? VMSNAP_ERROR_NOT_FOUND : VMSNAP_ERROR_FAILED,
                                        "cannot resolve the directory of %s: %m", path);

        resolved = xasprintf("%s%s%s", resolved_dir, strcmp(resolved_dir, "/") == 0 ? "" : "/", base);

        *ret = resolved;
        return 0;
}

char *vmsnap_path_canonical_or_copy(const char *path)
{
        char *canonical = NULL;

        if (vmsnap_path_canonical(path, &canonical, NULL) < 0)
                canonical = xstrdup(path);
        return canonical;
}

uint64_t vmsnap_file_allocated(const char *path)
{
        struct stat st;

        if (stat(path, &st) < 0)
                return 0;
        return (uint64_t)st.st_blocks * 512;
}

static int compare_paths(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

bool vmsnap_stat_in_directory(vmsnap_stat_directory *directory, const char *path, struct stat *st)
{
        const char *slash = strrchr(path, '/');
        if (!slash || slash[1] == '\0')
                return stat(path, st) == 0;
        size_t length = slash == path ? 1 : (size_t)(slash - path);
        if (!directory->path || directory->length != length || strncmp(directory->path, path, length) != 0) {
                if (directory->fd >= 0)
                        close(directory->fd);
                free(directory->path);
                directory->path = xstrndup(path, length);
                directory->length = length;
                directory->fd = open(directory->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        }
        if (directory->fd < 0)
                return stat(path, st) == 0;
        return fstatat(directory->fd, slash + 1, st, 0) == 0;
}

void vmsnap_stat_directory_close(vmsnap_stat_directory *directory)
{
        if (directory->fd >= 0)
                close(directory->fd);
        free(directory->path);
        *directory = (vmsnap_stat_directory){.fd = -1};
}

uint64_t vmsnap_files_allocated(char *const *paths, size_t n)
{
        vmsnap_stat_directory directory = {.fd = -1};
        uint64_t total = 0;
        struct stat st;

        _cleanup_free_ char **sorted = xcalloc(n + 1, sizeof(*sorted));
        memcpy(sorted, paths, n * sizeof(*sorted));
        qsort(sorted, n, sizeof(*sorted), compare_paths);
        for (size_t i = 0; i < n; i++)
                if (vmsnap_stat_in_directory(&directory, sorted[i], &st))
                        total += (uint64_t)st.st_blocks * 512;
        vmsnap_stat_directory_close(&directory);
        return total;
}

/* True when anything is at path, a dangling symlink included: callers use it to
 * decide whether a name is free before creating a file there. */
bool vmsnap_file_exists(const char *path)
{
        struct stat st;

        return lstat(path, &st) == 0;
}

static int mkdir_one(const char *path, mode_t mode)
{
        struct stat st;

        if (mkdir(path, mode) == 0)
                return 0;
        if (errno != EEXIST)
                return -errno;
        if (stat(path, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        return 0;
}

int vmsnap_dir_ensure(const char *path, vmsnap_error *error)
{
        _cleanup_free_ char *copy = NULL;
        size_t length;
        int r;

        if (!path || path[0] == '\0')
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "the directory path is empty");

        copy = xstrdup(path);
        length = strlen(copy);
        while (length > 1 && copy[length - 1] == '/')
                copy[--length] = '\0';

        /* Parents get the usual 0755; the directory asked for is private. */
        for (char *p = copy + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                r = mkdir_one(copy, 0755);
                *p = '/';
                if (r < 0)
                        return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED,
                                                "cannot create directory %.*s: %s", (int)(p - copy), copy,
                                                strerror(-r));
        }

        r = mkdir_one(copy, 0700);
        if (r < 0)
                return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED, "cannot create directory %s: %s",
                                        copy, strerror(-r));
        return 0;
}

/* File systems that show the kernel's state instead of holding files: an image
 * written there is refused or lost, whatever free space they report. */
static const char *pseudo_file_system(const char *dir)
{
        static const struct {
                unsigned long magic;
                const char *name;
        } kinds[] = {
                {PROC_SUPER_MAGIC, "proc"},
                {SYSFS_MAGIC, "sysfs"},
                {DEVPTS_SUPER_MAGIC, "devpts"},
                {CGROUP_SUPER_MAGIC, "cgroup"},
                {CGROUP2_SUPER_MAGIC, "cgroup2"},
                {DEBUGFS_MAGIC, "debugfs"},
                {SECURITYFS_MAGIC, "securityfs"},
                {TRACEFS_MAGIC, "tracefs"},
                {BPF_FS_MAGIC, "bpf"},
                {PSTOREFS_MAGIC, "pstore"},
                {EFIVARFS_MAGIC, "efivarfs"},
                {BINFMTFS_MAGIC, "binfmt_misc"},
                {0x62656570 /* CONFIGFS_MAGIC */, "configfs"},
        };
        struct statfs sf;

        if (statfs(dir, &sf) < 0)
                return NULL;
        for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
                if ((unsigned long)sf.f_type == kinds[i].magic)
                        return kinds[i].name;
        return NULL;
}

int vmsnap_dir_free_bytes(const char *dir, uint64_t *ret, vmsnap_error *error)
{
        const char *pseudo = pseudo_file_system(dir);
        struct statvfs sv;

        if (pseudo)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "%s is on a %s file system, which shows the kernel's state and "
                                        "cannot hold disk images; choose a directory on a disk",
                                        dir, pseudo);

        if (statvfs(dir, &sv) < 0)
                return vmsnap_error_set(error, -errno,
                                        errno == ENOENT ? VMSNAP_ERROR_NOT_FOUND : VMSNAP_ERROR_FAILED,
                                        "cannot find the free space of %s: %m", dir);

        *ret = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
        return 0;
}

int vmsnap_pread_full(int fd, void *buffer, size_t size, uint64_t offset, size_t *ret)
{
        size_t done = 0;

        while (done < size) {
                ssize_t n = pread(fd, (char *)buffer + done, size - done, (off_t)(offset + done));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                done += (size_t)n;
        }
        *ret = done;
        return 0;
}

int vmsnap_pwrite_full(int fd, const void *buffer, size_t size, uint64_t offset)
{
        size_t done = 0;

        while (done < size) {
                ssize_t n = pwrite(fd, (const char *)buffer + done, size - done, (off_t)(offset + done));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                done += (size_t)n;
        }
        return 0;
}
