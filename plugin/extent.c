/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* extent.c: resolving a backing chain, top to base, into the extent map of the virtual
 * disk, one run at a time. Owns the layers (qcow2 through qcow2.c, raw with
 * SEEK_DATA/SEEK_HOLE), the rule that a backing file shorter than its overlay reads
 * zeroes past its end, and the merging of adjacent runs. The walk itself is chain.c's. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "chain.h"
#include "extent.h"

typedef struct layer {
        char *path;
        int fd;
        vmsnap_image_format format;
        vmsnap_qcow2 *qcow2; /* NULL for raw */
        uint64_t virtual_size;
        /* The smallest virtual size from the top down to this image: past it this image and
         * every one below it read as zeroes. */
        uint64_t limit;
        /* The last run this image answered; later questions inside it are answered from it. */
        vmsnap_qcow2_run cached;
        bool cached_valid;
} layer;

struct vmsnap_extent_map {
        layer *layers;
        unsigned n_layers;
        uint64_t virtual_size;
        uint64_t scratch_size;
};

static void layer_clear(layer *l)
{
        vmsnap_qcow2_free(l->qcow2);
        if (l->fd >= 0)
                close(l->fd);
        free(l->path);
}

void vmsnap_extent_map_free(vmsnap_extent_map *map)
{
        if (!map)
                return;
        for (unsigned i = 0; i < map->n_layers; i++)
                layer_clear(&map->layers[i]);
        free(map->layers);
        free(map);
}

typedef struct open_context {
        vmsnap_extent_map *map;
        /* The format the image above (for the top: the caller) declared for this one ... */
        vmsnap_image_format declared;
        bool declared_known; /* ... when one was declared (else it was probed) */
        vmsnap_error *error;
} open_context;

static int layer_open(const char *path, const vmsnap_image_header *walked, unsigned depth, void *userdata)
{
        open_context *context = userdata;
        vmsnap_extent_map *map = context->map;
        vmsnap_image_header header = {0};
        layer *l;
        int r;

        map->layers = xreallocarray(map->layers, map->n_layers + 1, sizeof(*map->layers));
        l = &map->layers[map->n_layers];
        *l = (layer){.fd = -EBADF};
        map->n_layers++;

        l->path = xstrdup(path);
        l->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (l->fd < 0)
                return vmsnap_error_set(context->error, -errno,
                                        errno == ENOENT ? VMSNAP_ERROR_NOT_FOUND : VMSNAP_ERROR_FAILED,
                                        "cannot open image %s: %m", path);

        /* The walk read the header by name; read it again from the descriptor the data will be
         * read through, so that both describe the same file. */
        r = vmsnap_image_header_read_fd(l->fd, path,
                                        depth == 0 && !context->declared_known ? NULL : &context->declared,
                                        &header, context->error);
        if (r < 0)
                return r;
        if (header.format != walked->format || header.virtual_size != walked->virtual_size) {
                vmsnap_image_header_clear(&header);
                return vmsnap_error_set(context->error, -ESTALE, VMSNAP_ERROR_FAILED,
                                        "image %s changed while its chain was being read", path);
        }

        l->format = header.format;
        l->virtual_size = header.virtual_size;
        l->limit = depth == 0 || map->layers[depth - 1].limit > l->virtual_size
                           ? l->virtual_size
                           : map->layers[depth - 1].limit;
        if (depth == 0)
                map->virtual_size = l->virtual_size;

        if (header.format == VMSNAP_FORMAT_QCOW2) {
                r = vmsnap_qcow2_open(l->fd, path, &header, &l->qcow2, context->error);
                if (r >= 0 && vmsnap_qcow2_compressed_scratch_size(l->qcow2) > map->scratch_size)
                        map->scratch_size = vmsnap_qcow2_compressed_scratch_size(l->qcow2);
        } else if (!context->declared_known) {
                /* Nobody declared this file raw; it only lacks the qcow2 magic. */
                const char *foreign = vmsnap_image_foreign_format(l->fd);

                if (foreign)
                        r = vmsnap_error_set(context->error, -EOPNOTSUPP, VMSNAP_ERROR_UNSUPPORTED,
                                             "%s is a %s image; vmsnap's reader reads only qcow2 and raw",
                                             path, foreign);
        }

        context->declared = header.backing_format;
        context->declared_known = header.backing_format_known;
        vmsnap_image_header_clear(&header);
        return r < 0 ? r : 0;
}

int vmsnap_extent_map_open(const char *path, const vmsnap_image_format *format, vmsnap_extent_map **ret,
                           vmsnap_error *error)
{
        vmsnap_extent_map *map;
        open_context context;
        int r;

        if (!path || !ret)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "no image was given to read");

        map = xcalloc(1, sizeof(*map));

        context = (open_context){
                .map = map,
                .error = error,
                .declared = format ? *format : VMSNAP_FORMAT_RAW,
                .declared_known = format != NULL,
        };
        r = vmsnap_chain_walk_as(path, format, layer_open, &context, error);
        if (r < 0) {
                vmsnap_extent_map_free(map);
                return r;
        }

        *ret = map;
        return 0;
}

uint64_t vmsnap_extent_map_virtual_size(const vmsnap_extent_map *map)
{
        return map->virtual_size;
}

unsigned vmsnap_extent_map_depth(const vmsnap_extent_map *map)
{
        return map->n_layers;
}

const char *vmsnap_extent_map_path(const vmsnap_extent_map *map, unsigned depth)
{
        return depth < map->n_layers ? map->layers[depth].path : NULL;
}

int vmsnap_extent_map_fd(const vmsnap_extent_map *map, unsigned depth)
{
        return depth < map->n_layers ? map->layers[depth].fd : -EBADF;
}

uint64_t vmsnap_extent_map_scratch_size(const vmsnap_extent_map *map)
{
        return map->scratch_size;
}

/* A raw image has no tables; the file system knows its holes. Holes are zeroes: nothing lies
 * below a raw image. */
static int raw_run(const layer *l, uint64_t offset, uint64_t length, vmsnap_qcow2_run *ret,
                   vmsnap_error *error)
{
        off_t data, hole;

        *ret = (vmsnap_qcow2_run){
                .kind = VMSNAP_EXTENT_DATA, .offset = offset, .length = length, .host_offset = offset};

        data = lseek(l->fd, (off_t)offset, SEEK_DATA);
        if (data < 0) {
                if (errno == ENXIO) {
                        ret->kind = VMSNAP_EXTENT_ZERO;
                        return 0;
                }
                /* A file system without SEEK_DATA: everything is data. */
                if (errno == EINVAL || errno == EOPNOTSUPP)
                        return 0;
                return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED,
                                        "cannot read the layout of %s: %m", l->path);
        }
        if ((uint64_t)data > offset) {
                ret->kind = VMSNAP_EXTENT_ZERO;
                if ((uint64_t)data - offset < length)
                        ret->length = (uint64_t)data - offset;
                return 0;
        }

        hole = lseek(l->fd, (off_t)offset, SEEK_HOLE);
        if (hole < 0)
                return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED,
                                        "cannot read the layout of %s: %m", l->path);
        if ((uint64_t)hole > offset && (uint64_t)hole - offset < length)
                ret->length = (uint64_t)hole - offset;
        return 0;
}

/* The run of one image at offset, at most length bytes (offset + length within its limit). */
static int layer_run(layer *l, uint64_t offset, uint64_t length, vmsnap_qcow2_run *ret, vmsnap_error *error)
{
        int r;

        if (l->cached_valid && offset >= l->cached.offset && offset - l->cached.offset < l->cached.length) {
                uint64_t skip = offset - l->cached.offset;

                *ret = l->cached;
                ret->offset = offset;
                ret->length -= skip;
                if (ret->kind == VMSNAP_EXTENT_DATA)
                        ret->host_offset += skip;
                if (ret->length > length)
                        ret->length = length;
                return 0;
        }

        l->cached_valid = false;
        if (l->qcow2)
                r = vmsnap_qcow2_map(l->qcow2, offset, length, ret, error);
        else
                r = raw_run(l, offset, length, ret, error);
        if (r < 0)
                return r;
        l->cached = *ret;
        l->cached_valid = true;
        return 0;
}

/* The run at offset through the whole chain: the first image from the top that holds anything
 * there decides; where an image holds nothing, the one below is asked about that much. */
static int chain_run(vmsnap_extent_map *map, uint64_t offset, uint64_t length, vmsnap_extent *ret,
                     vmsnap_error *error)
{
        for (unsigned depth = 0; depth < map->n_layers; depth++) {
                layer *l = &map->layers[depth];
                vmsnap_qcow2_run run;
                int r;

                if (offset >= l->limit) {
                        *ret = (vmsnap_extent){
                                .kind = VMSNAP_EXTENT_ZERO, .offset = offset, .length = length};
                        return 0;
                }
                if (length > l->limit - offset)
                        length = l->limit - offset;

                r = layer_run(l, offset, length, &run, error);
                if (r < 0)
                        return r;
                if (run.kind == VMSNAP_EXTENT_UNALLOCATED) {
                        length = run.length;
                        continue;
                }

                *ret = (vmsnap_extent){
                        .kind = run.kind,
                        .offset = offset,
                        .length = run.length,
                        .depth = depth,
                        .fd = run.kind == VMSNAP_EXTENT_ZERO ? -EBADF : l->fd,
                        .image = run.kind == VMSNAP_EXTENT_COMPRESSED ? l->qcow2 : NULL,
                        .host_offset = run.host_offset,
                        .compressed_size = run.compressed_size,
                        .cluster_offset = run.cluster_offset,
                };
                return 0;
        }

        *ret = (vmsnap_extent){
                .kind = VMSNAP_EXTENT_UNALLOCATED, .offset = offset, .length = length, .fd = -EBADF};
        return 0;
}

static bool extent_continues(const vmsnap_extent *e, const vmsnap_extent *next)
{
        if (e->kind != next->kind || e->kind == VMSNAP_EXTENT_COMPRESSED)
                return false;
        if (e->kind == VMSNAP_EXTENT_DATA)
                return e->depth == next->depth && next->host_offset == e->host_offset + e->length;
        return true;
}

int vmsnap_extent_map_next(vmsnap_extent_map *map, uint64_t offset, uint64_t length, vmsnap_extent *ret,
                           vmsnap_error *error)
{
        uint64_t limit;
        int r;

        if (!map || !ret || offset >= map->virtual_size || length == 0)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "a guest range outside the disk was asked for");
        limit = length < map->virtual_size - offset ? offset + length : map->virtual_size;

        r = chain_run(map, offset, limit - offset, ret, error);
        if (r < 0)
                return r;

        while (ret->offset + ret->length < limit) {
                uint64_t end = ret->offset + ret->length;
                vmsnap_extent next;

                r = chain_run(map, end, limit - end, &next, error);
                if (r < 0)
                        return r;
                if (!extent_continues(ret, &next))
                        break;
                ret->length += next.length;
        }
        return 0;
}

int vmsnap_extent_map_read(vmsnap_extent_map *map, uint64_t offset, uint64_t length, vmsnap_extent *extents,
                           size_t max_extents, size_t *n_ret, uint64_t *end_ret, vmsnap_error *error)
{
        uint64_t limit, position = offset;
        size_t n = 0;
        int r;

        if (!map || !extents || max_extents == 0 || !n_ret || offset > map->virtual_size)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "a guest range outside the disk was asked for");
        limit = length < map->virtual_size - offset ? offset + length : map->virtual_size;

        while (position < limit && n < max_extents) {
                r = vmsnap_extent_map_next(map, position, limit - position, &extents[n], error);
                if (r < 0)
                        return r;
                position += extents[n].length;
                n++;
        }

        *n_ret = n;
        if (end_ret)
                *end_ret = position;
        return 0;
}

int vmsnap_extent_read_compressed(const vmsnap_extent *extent, void *out, void *scratch, vmsnap_error *error)
{
        vmsnap_qcow2_run run;

        if (!extent || extent->kind != VMSNAP_EXTENT_COMPRESSED || !extent->image)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "no compressed extent was given to read");
        run = (vmsnap_qcow2_run){
                .kind = VMSNAP_EXTENT_COMPRESSED,
                .offset = extent->offset,
                .length = extent->length,
                .host_offset = extent->host_offset,
                .compressed_size = extent->compressed_size,
                .cluster_offset = extent->cluster_offset,
        };
        return vmsnap_qcow2_read_compressed(extent->image, &run, out, scratch, error);
}

uint64_t vmsnap_extent_cluster_size(const vmsnap_extent *extent)
{
        return extent->image ? vmsnap_qcow2_cluster_size(extent->image) : 0;
}
