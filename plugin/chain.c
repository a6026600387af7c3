/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* chain.c: reading image headers and following backing chains. Owns telling qcow2
 * from raw, the resolution of backing file names, and the one walk down a chain.
 * The qcow2 header itself (every field validated before it is trusted) and its
 * clusters are qcow2.c's. */
#include <endian.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chain.h"
#include "error.h"
#include "fileio.h"
#include "header-cache.h"
#include "qcow2-format.h"
#include "qcow2.h"

#define CHAIN_DEPTH_MAX 1024

void vmsnap_image_header_clear(vmsnap_image_header *header)
{
        if (!header)
                return;
        free(header->backing);
        free(header->backing_raw);
        *header = (vmsnap_image_header){0};
}

/* Mirrors qemu's path_has_protocol(): a ':' before any '/' makes "nbd:host:port",
 * "json:{...}" and friends, which are not files. */
static bool name_has_protocol(const char *name)
{
        return name[strcspn(name, ":/")] == ':';
}

static char *path_join(const char *dir, const char *name)
{
        return xasprintf("%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name);
}

/* The absolute directory holding path, without resolving symlinks (qemu resolves a
 * relative backing name against the image's directory as named, and so do we). */
static int image_directory(const char *path, char **ret)
{
        _cleanup_free_ char *cwd = NULL, *dir = path_dirname(path);

        if (dir[0] == '/') {
                *ret = dir;
                dir = NULL;
                return 0;
        }

        cwd = getcwd(NULL, 0);
        if (!cwd)
                return -errno;
        if (strcmp(dir, ".") == 0) {
                *ret = cwd;
                cwd = NULL;
                return 0;
        }

        *ret = path_join(cwd, dir);
        return 0;
}

/* Turns the name stored in image path's header into the absolute path of a local file. */
static int backing_resolve(const char *path, const char *stored, char **ret, vmsnap_error *error)
{
        _cleanup_free_ char *dir = NULL;
        const char *name = stored;
        int r;

        /* "file:" names the local file protocol explicitly; it is still a file. */
        if (strncmp(name, "file:", 5) == 0)
                name += 5;

        if (name_has_protocol(name))
                return vmsnap_error_set(error, -EOPNOTSUPP, VMSNAP_ERROR_UNSUPPORTED,
                                        "the backing file of %s is \"%s\", which is not a local file; only "
                                        "images backed by files are supported",
                                        path, stored);
        if (name[0] == '\0')
                return vmsnap_qcow2_invalid(error, path, "the backing file name is empty");

        if (name[0] == '/') {
                *ret = xstrdup(name);
                return 0;
        }

        r = image_directory(path, &dir);
        if (r < 0)
                return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED,
                                        "cannot find the directory of %s to resolve its backing file: %m",
                                        path);

        while (strncmp(name, "./", 2) == 0) {
                name += 2;
                while (name[0] == '/')
                        name++;
        }

        *ret = path_join(dir, name);
        return 0;
}

/* The qcow2 header of the image open as fd, whose first header_bytes bytes are h: its fields,
 * then its backing file name (resolved), then its extensions. */
static int qcow2_header_read(int fd, const qcow2_header *h, size_t header_bytes, uint64_t file_size,
                             const char *path, vmsnap_image_header *ret, vmsnap_error *error)
{
        vmsnap_image_header header = {0};
        int r;

        r = vmsnap_qcow2_header_check(h, header_bytes, file_size, path, &header, error);
        if (r < 0)
                return r;
        r = vmsnap_qcow2_backing_name_read(fd, h, path, &header.backing_raw, error);
        if (r >= 0 && header.backing_raw)
                r = backing_resolve(path, header.backing_raw, &header.backing, error);
        if (r >= 0)
                r = vmsnap_qcow2_extensions_read(fd, h, file_size, path, &header, error);
        if (r < 0) {
                vmsnap_image_header_clear(&header);
                return r;
        }

        *ret = header;
        return 0;
}

/* Reads the header of the image open as fd. With forced set, the format is the one a parent
 * image declared and is not probed: a raw disk stays raw whatever its guest wrote at its start. */
static int image_header_read_fd(int fd, const char *path, const vmsnap_image_format *forced,
                                vmsnap_image_header *ret, vmsnap_error *error)
{
        qcow2_header h = {0};
        uint64_t file_size;
        struct stat st;
        size_t got;
        int r;

        if (fstat(fd, &st) < 0)
                return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED, "cannot examine image %s: %m",
                                        path);
        if (!S_ISREG(st.st_mode))
                return vmsnap_error_set(error, -EOPNOTSUPP, VMSNAP_ERROR_UNSUPPORTED,
                                        "%s is not a regular file; only file images are supported", path);
        file_size = (uint64_t)st.st_size;

        if (forced && *forced == VMSNAP_FORMAT_RAW)
                goto raw;

        r = vmsnap_pread_full(fd, &h, sizeof(h), 0, &got);
        if (r < 0)
                return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED, "cannot read image %s: %m", path);

        if (got >= 4 && be32toh(h.magic) == QCOW2_MAGIC) {
                r = qcow2_header_read(fd, &h, got, file_size, path, ret, error);
                if (r >= 0) {
                        ret->file_device = (uint64_t)st.st_dev;
                        ret->file_inode = (uint64_t)st.st_ino;
                }
                return r;
        }
        if (forced)
                return vmsnap_error_set(error, -EBADMSG, VMSNAP_ERROR_FAILED,
                                        "%s should be a qcow2 image but does not start with the qcow2 magic",
                                        path);

raw:
        *ret = (vmsnap_image_header){
                .format = VMSNAP_FORMAT_RAW,
                .file_device = (uint64_t)st.st_dev,
                .file_inode = (uint64_t)st.st_ino,
                .virtual_size = file_size,
        };
        return 0;
}

/* st_ret (may be NULL): the stat() of the file whose header *ret is, for a walk that would
 * otherwise stat() it again. */
static int image_header_read(const char *path, const vmsnap_image_format *forced, vmsnap_image_header *ret,
                             struct stat *st_ret, vmsnap_error *error)
{
        _cleanup_close_ int fd = -EBADF;
        struct stat before, opened;
        int r;

        /* A header read before from this very file is not read again (header-cache.h); only
         * absolute names are kept, as a relative one resolves its backing file against the
         * working directory. */
        bool cacheable = path[0] == '/' && stat(path, &before) == 0 && S_ISREG(before.st_mode);
        if (cacheable && vmsnap_header_cache_get(path, &before, forced, ret)) {
                if (st_ret)
                        *st_ret = before;
                return 0;
        }

        /* O_NONBLOCK: a FIFO put in an image's place must not hang us; it is refused as not a
         * regular file. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                if (errno == ENOENT)
                        return vmsnap_error_set(error, -ENOENT, VMSNAP_ERROR_NOT_FOUND,
                                                "image %s does not exist", path);
                return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED, "cannot open image %s: %m",
                                        path);
        }
        r = image_header_read_fd(fd, path, forced, ret, error);
        if (r < 0)
                return r;
        if (fstat(fd, &opened) < 0) {
                vmsnap_image_header_clear(ret);
                return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED, "cannot examine image %s: %m",
                                        path);
        }
        if (st_ret)
                *st_ret = opened;
        /* Kept only when the file read is the one stat()ed, unchanged since. */
        if (cacheable && opened.st_dev == before.st_dev && opened.st_ino == before.st_ino &&
            opened.st_size == before.st_size && opened.st_ctim.tv_sec == before.st_ctim.tv_sec &&
            opened.st_ctim.tv_nsec == before.st_ctim.tv_nsec)
                vmsnap_header_cache_put(path, &opened, forced, ret);
        return 0;
}

int vmsnap_image_header_read_fd(int fd, const char *path, const vmsnap_image_format *declared,
                                vmsnap_image_header *ret, vmsnap_error *error)
{
        if (fd < 0 || !path || !ret)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "no image was given to read");
        return image_header_read_fd(fd, path, declared, ret, error);
}

/* Magic strings of the formats qemu reads and vmsnap does not, at offset 0. Other formats
 * (dmg) keep theirs elsewhere; a file probed as raw by qemu is raw for us too. */
static const struct {
        const char *name;
        const char *magic;
        size_t length;
} foreign_formats[] = {
        {"vmdk", "KDMV", 4},
        {"vmdk", "# Disk DescriptorFile", 21},
        {"vpc", "conectix", 8},
        {"vhdx", "vhdxfile", 8},
        {"qed", "QED\0", 4},
        {"luks", "LUKS\xba\xbe", 6},
        {"parallels", "WithoutFreeSpace", 16},
        {"parallels", "WithouFreSpacExt", 16},
        {"bochs", "Bochs Virtual HD Image", 22},
        {"cloop", "#!/bin/sh\n#V2.0 Format", 22},
};

const char *vmsnap_image_foreign_format(int fd)
{
        static const uint8_t vdi_signature[4] = {0x7f, 0x10, 0xda, 0xbe};
        uint8_t start[72];
        size_t got;

        if (vmsnap_pread_full(fd, start, sizeof(start), 0, &got) < 0)
                return NULL;

        for (size_t i = 0; i < sizeof(foreign_formats) / sizeof(foreign_formats[0]); i++)
                if (got >= foreign_formats[i].length &&
                    memcmp(start, foreign_formats[i].magic, foreign_formats[i].length) == 0)
                        return foreign_formats[i].name;
        /* vdi: a text banner, then its signature at byte 64 (little-endian 0xbeda107f). */
        if (got >= 68 && memcmp(start + 64, vdi_signature, sizeof(vdi_signature)) == 0)
                return "vdi";
        return NULL;
}

int vmsnap_image_header_read(const char *path, vmsnap_image_header *ret, vmsnap_error *error)
{
        if (!path || !ret)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "no image was given to read");
        return image_header_read(path, NULL, ret, NULL, error);
}

int vmsnap_image_header_read_as(const char *path, const vmsnap_image_format *format,
                                vmsnap_image_header *ret, vmsnap_error *error)
{
        if (!path || !ret)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "no image was given to read");
        return image_header_read(path, format, ret, NULL, error);
}

typedef struct file_identity {
        dev_t device;
        ino_t inode;
} file_identity;

int vmsnap_chain_walk(const char *path, vmsnap_chain_visit_fn visit, void *userdata, vmsnap_error *error)
{
        return vmsnap_chain_walk_as(path, NULL, visit, userdata, error);
}

int vmsnap_chain_walk_as(const char *path, const vmsnap_image_format *top_format,
                         vmsnap_chain_visit_fn visit, void *userdata, vmsnap_error *error)
{
        _cleanup_free_ file_identity *visited = NULL;
        _cleanup_free_ char *current = NULL;
        vmsnap_image_format declared = top_format ? *top_format : VMSNAP_FORMAT_RAW;
        bool format_declared = top_format != NULL;
        int r;

        if (!path || !visit)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "no image was given to walk");

        visited = xcalloc(CHAIN_DEPTH_MAX + 1, sizeof(*visited));
        current = xstrdup(path);

        /* The header of the next image, read as the backing file of the one before: each
         * header of a deep chain is read once. */
        vmsnap_image_header next = {0};
        struct stat next_st;
        bool have_next = false;

        for (unsigned depth = 0;; depth++) {
                vmsnap_image_header header = {0};
                struct stat st;

                if (depth > CHAIN_DEPTH_MAX) {
                        vmsnap_image_header_clear(&next);
                        return vmsnap_error_set(error, -ELOOP, VMSNAP_ERROR_UNSUPPORTED,
                                                "the backing chain of %s is deeper than %u images", path,
                                                CHAIN_DEPTH_MAX);
                }

                if (have_next) {
                        header = next;
                        st = next_st;
                        next = (vmsnap_image_header){0};
                        have_next = false;
                } else {
                        r = image_header_read(current, format_declared ? &declared : NULL, &header, &st,
                                              error);
                        if (r < 0)
                                return r;
                }
                for (unsigned i = 0; i < depth; i++)
                        if (visited[i].device == st.st_dev && visited[i].inode == st.st_ino) {
                                vmsnap_image_header_clear(&header);
                                return vmsnap_error_set(
                                        error, -ELOOP, VMSNAP_ERROR_FAILED,
                                        "the backing chain of %s loops: %s appears in it twice", path,
                                        current);
                        }
                visited[depth] = (file_identity){st.st_dev, st.st_ino};

                if (header.backing) {
                        vmsnap_image_header backing = {0};

                        r = image_header_read(header.backing,
                                              header.backing_format_known ? &header.backing_format : NULL,
                                              &backing, &next_st, error);
                        if (r == -ENOENT)
                                r = vmsnap_error_set(error, -ENOENT, VMSNAP_ERROR_NOT_FOUND,
                                                     "backing file %s of %s does not exist", header.backing,
                                                     current);
                        if (r < 0) {
                                vmsnap_image_header_clear(&header);
                                return r;
                        }
                        /* An image that does not name its backing format gets the probed one. */
                        if (!header.backing_format_known)
                                header.backing_format = backing.format;
                        /* Read as the next step would read it: as header.backing_format. */
                        next = backing;
                        have_next = true;
                }

                r = visit(current, &header, depth, userdata);
                if (r != 0 || !header.backing) {
                        vmsnap_image_header_clear(&header);
                        vmsnap_image_header_clear(&next);
                        return r;
                }

                free(current);
                current = header.backing;
                header.backing = NULL;
                declared = header.backing_format;
                format_declared = true;
                vmsnap_image_header_clear(&header);
        }
}
