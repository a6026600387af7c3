/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* image.c: the changes vmsnap makes to image files: a new overlay, written by
 * vmsnap itself (writer.c), and rebases and commits, each one qemu-img run through
 * vmsnap_spawn(). Callers decide whether a file may be touched
 * (safety rules); this file only performs the change. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "chain.h"
#include "error.h"
#include "fileio.h"
#include "image.h"
#include "names.h"
#include "subprocess.h"
#include "writer.h"

/* The empty overlay, written by vmsnap itself into the unnamed file fd: a qcow2 header
 * naming backing, an empty L1 table and the refcounts, as qemu-img create would make it,
 * without a process and its five flushes: its naming flushes it once. */
static int write_overlay(int fd, const char *path, const char *backing, vmsnap_image_format backing_format,
                         uint64_t virtual_size, vmsnap_error *error)
{
        vmsnap_writer *writer = NULL;
        int r = vmsnap_writer_new(fd, path, VMSNAP_FORMAT_QCOW2, virtual_size, 1, &writer, error);
        if (r == 0)
                r = vmsnap_writer_set_backing(writer, backing, backing_format, error);
        if (r == 0)
                r = vmsnap_writer_finish_unnamed(writer, error);
        vmsnap_writer_free(writer);
        return r;
}

/* Where the file system has no unnamed files: qemu-img fills the file made at path with
 * O_EXCL, which an interrupted qemu-img leaves empty or with a header of no size and no
 * backing file (recovery removes both, journal.c). */
static int create_overlay_in_place(const char *path, const char *backing, const char *backing_format,
                                   uint64_t virtual_size, vmsnap_error *error)
{
        char size[32];
        int r = vmsnap_file_create_like(path, backing, error);
        if (r < 0)
                return r;
        snprintf(size, sizeof(size), "%" PRIu64, virtual_size);
        const char *argv[] = {"qemu-img", "create", "-q",           "-u", "-f", "qcow2", "-b",
                              backing,    "-F",     backing_format, path, size, NULL};
        r = vmsnap_spawn(argv, NULL, error);
        if (r < 0)
                vmsnap_file_remove(path, NULL);
        return r;
}

int vmsnap_image_create_overlay(const char *path, const char *backing, const char *backing_format,
                                vmsnap_error *error)
{
        vmsnap_image_header header = {0};
        vmsnap_image_format format;
        uint64_t virtual_size;
        int r;

        /* The backing file's header was validated here, read as the format it is recorded
         * to be (a raw disk stays raw whatever its guest wrote into it); nothing opens the
         * chain below it, which matters for deep chains. */
        if (vmsnap_image_format_parse(backing_format, &format) < 0)
                return vmsnap_error_set(
                        error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                        "cannot create an overlay of %s: its format %s is neither qcow2 nor raw", backing,
                        backing_format ? backing_format : "(none)");
        r = vmsnap_image_header_read_as(backing, &format, &header, error);
        if (r < 0)
                return vmsnap_error_prefix(error, "cannot create an overlay of %s", backing);
        virtual_size = header.virtual_size;
        vmsnap_image_header_clear(&header);

        /* The overlay is written into an unnamed file that is already ours (the backing
         * file's owner and mode), which then gets its name whole: vmsnapd killed halfway
         * leaves nothing at path. */
        _cleanup_close_ int fd = -EBADF;
        r = vmsnap_file_create_unnamed_like(path, backing, &fd, error);
        if (r == -EOPNOTSUPP)
                r = create_overlay_in_place(path, backing, backing_format, virtual_size, error);
        else if (r == 0) {
                r = write_overlay(fd, path, backing, format, virtual_size, error);
                if (r == 0)
                        r = vmsnap_file_link_unnamed(fd, path, error);
        }
        if (r < 0)
                return vmsnap_error_prefix(error, "cannot create overlay %s", path);
        return 0;
}

int vmsnap_image_rebase(const char *image, const char *new_backing, const char *new_backing_format,
                        bool safe, const vmsnap_hooks *hooks, vmsnap_error *error)
{
        const char *argv[16];
        size_t n = 0;
        int r;

        argv[n++] = "qemu-img";
        argv[n++] = "rebase";
        argv[n++] = "-f";
        argv[n++] = "qcow2";
        argv[n++] = safe ? "-p" : "-u";
        if (new_backing) {
                argv[n++] = "-b";
                argv[n++] = new_backing;
                argv[n++] = "-F";
                argv[n++] = new_backing_format;
        } else {
                argv[n++] = "-b";
                argv[n++] = "";
        }
        argv[n++] = image;
        argv[n] = NULL;
        r = vmsnap_spawn(argv, hooks, error);
        if (r < 0)
                return vmsnap_error_prefix(error, "cannot rebase %s onto %s", image,
                                           new_backing ? new_backing : "no backing file");
        return 0;
}

/* qemu-img opens an image with its whole chain, and that costs more the deeper the chain is
 * (about a second for 500 images). A commit of top into its own backing file needs only
 * those two when every cluster of base that the commit writes is written whole: a cluster
 * written in part is filled from base's own backing file (copy on write), which then has to
 * be open. qemu-img copies each cluster top allocates, whole (in pieces of at most 64 KiB,
 * which end up filling it), so that holds when top's clusters are no smaller than base's,
 * neither has subclusters (top would allocate parts of a cluster; base's are written in
 * part) or an external data file, and both have the same size (no partial cluster of base
 * past top's end). Returns the json: name of top whose chain stops at base, or NULL: open
 * the whole chain. */
static char *commit_capped_name(const char *top, const char *base)
{
        const vmsnap_image_format qcow2 = VMSNAP_FORMAT_QCOW2;
        _cleanup_(vmsnap_image_header_clear) vmsnap_image_header top_header = {0};
        _cleanup_(vmsnap_image_header_clear) vmsnap_image_header base_header = {0};

        if (vmsnap_image_header_read_as(top, &qcow2, &top_header, NULL) < 0 || !top_header.backing ||
            strcmp(top_header.backing, base) != 0 || !top_header.backing_format_known ||
            top_header.backing_format != VMSNAP_FORMAT_QCOW2 ||
            vmsnap_image_header_read_as(base, &qcow2, &base_header, NULL) < 0)
                return NULL;
        if (!base_header.backing)
                return NULL; /* nothing lies below base */
        if (top_header.qcow2.extended_l2 || base_header.qcow2.extended_l2 || top_header.external_data_file ||
            base_header.external_data_file ||
            top_header.qcow2.cluster_bits < base_header.qcow2.cluster_bits ||
            top_header.virtual_size != base_header.virtual_size)
                return NULL;

        json_object *spec = json_object_new_object(), *file = json_object_new_object(),
                    *below = json_object_new_object(), *below_file = json_object_new_object();
        json_object_object_add(file, "driver", json_object_new_string("file"));
        json_object_object_add(file, "filename", json_object_new_string(top));
        json_object_object_add(below_file, "driver", json_object_new_string("file"));
        json_object_object_add(below_file, "filename", json_object_new_string(base));
        json_object_object_add(below, "driver", json_object_new_string("qcow2"));
        json_object_object_add(below, "file", below_file);
        json_object_object_add(below, "backing", NULL);
        json_object_object_add(spec, "driver", json_object_new_string("qcow2"));
        json_object_object_add(spec, "file", file);
        json_object_object_add(spec, "backing", below);
        char *name =
                xasprintf("json:%s", json_object_to_json_string_ext(
                                             spec, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(spec);
        return name;
}

int vmsnap_image_commit(const char *top, const char *base, const vmsnap_hooks *hooks, vmsnap_error *error)
{
        _cleanup_free_ char *capped = commit_capped_name(top, base);
        /* -d: top is removed afterwards, so emptying it would only cost time. Capped, top's
         * backing file is base, the default target; the json: name carries the format. */
        const char *whole_chain[] = {"qemu-img", "commit", "-f", "qcow2", "-p", "-d", "-b", base, top, NULL};
        const char *two_images[] = {"qemu-img", "commit", "-p", "-d", capped, NULL};
        int r = vmsnap_spawn(capped ? two_images : whole_chain, hooks, error);
        if (r < 0)
                return vmsnap_error_prefix(error, "cannot commit %s into %s", top, base);
        return 0;
}

int vmsnap_image_repair_leaks(const char *image, vmsnap_error *error)
{
        const char *argv[] = {"qemu-img", "check", "-q", "-f", "qcow2", "-r", "leaks", image, NULL};
        int r = vmsnap_spawn(argv, NULL, error);
        if (r < 0)
                return vmsnap_error_prefix(error, "cannot check %s for unused clusters", image);
        return 0;
}

int vmsnap_image_overlay_path(const char *leaf, char **ret, vmsnap_error *error)
{
        const char *slash = strrchr(leaf, '/');
        const char *base = slash ? slash + 1 : leaf;
        size_t dir_len = slash ? (size_t)(slash - leaf) : 0;
        size_t stem_len = strlen(base);
        const char *tag, *dot;

        /* Strip a previous ".vmsnap-xxxxxxxx" tag, else the extension. */
        tag = strstr(base, ".vmsnap-");
        if (tag)
                stem_len = (size_t)(tag - base);
        else if ((dot = strrchr(base, '.')) && dot != base)
                stem_len = (size_t)(dot - base);

        for (int attempt = 0; attempt < 16; attempt++) {
                char uuid[37];
                vmsnap_uuid_generate(uuid);
                char *path = xasprintf("%.*s/%.*s.vmsnap-%.8s.qcow2", (int)dir_len, leaf, (int)stem_len,
                                       base, uuid);
                if (!vmsnap_file_exists(path)) {
                        *ret = path;
                        return 0;
                }
                free(path);
        }
        return vmsnap_error_set(error, -EEXIST, VMSNAP_ERROR_FAILED, "no free overlay name next to %s",
                                leaf);
}
