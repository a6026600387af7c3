/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz-qcow2.c: a libFuzzer target over the qcow2 header check and the cluster reader
 * (qcow2.c, reached through chain.c): the input is an image file; it is opened, mapped
 * from the first guest byte to the last and every compressed cluster decompressed. Nothing may crash, hang
 * or read out of bounds, whatever the bytes. Backing files are not followed: the input is one image. Built
 * with -Dfuzzing=true (clang); run by tests/run-fuzz.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "chain.h"
#include "qcow2.h"

/* Guards against a map that never ends; a valid small input has far fewer runs. */
#define RUNS_MAX 1000000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const vmsnap_image_format qcow2_format = VMSNAP_FORMAT_QCOW2;
        static int fd = -1;
        static char path[64];
        vmsnap_image_header header = {0};
        vmsnap_qcow2 *image = NULL;
        uint8_t *cluster = NULL, *scratch = NULL;
        uint64_t offset = 0, virtual_size;

        if (fd < 0) {
                fd = memfd_create("fuzz-qcow2", MFD_CLOEXEC);
                if (fd < 0)
                        abort();
                snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        }
        if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
                abort();

        if (vmsnap_image_header_read_fd(fd, path, &qcow2_format, &header, NULL) < 0)
                return 0;
        if (vmsnap_qcow2_open(fd, path, &header, &image, NULL) < 0)
                goto out;

        cluster = malloc(vmsnap_qcow2_cluster_size(image));
        scratch = malloc(vmsnap_qcow2_compressed_scratch_size(image));
        if (!cluster || !scratch)
                abort();

        virtual_size = vmsnap_qcow2_virtual_size(image);
        for (unsigned runs = 0; offset < virtual_size && runs < RUNS_MAX; runs++) {
                vmsnap_qcow2_run run;

                if (vmsnap_qcow2_map(image, offset, UINT64_MAX, &run, NULL) < 0)
                        break;
                if (run.length == 0 || run.offset != offset || run.length > virtual_size - offset)
                        abort();
                if (run.kind == VMSNAP_EXTENT_COMPRESSED &&
                    vmsnap_qcow2_read_compressed(image, &run, cluster, scratch, NULL) < 0)
                        break;
                offset += run.length;
        }

out:
        free(cluster);
        free(scratch);
        vmsnap_qcow2_free(image);
        vmsnap_image_header_clear(&header);
        return 0;
}
