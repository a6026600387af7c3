/* chain.h: reading image headers and walking backing chains.
 * Reads only headers (qcow2 header + header extensions, or recognises raw);
 * the cluster-level reader used by clone lives in qcow2.c. This is the one
 * place that follows a backing chain. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include "vmsnap/vmsnap.h"

typedef enum vmsnap_image_format {
        VMSNAP_FORMAT_RAW = 0,
        VMSNAP_FORMAT_QCOW2,
} vmsnap_image_format;

typedef struct vmsnap_image_header {
        vmsnap_image_format format;
        uint32_t qcow2_version; /* 2 or 3; 0 for raw */
        uint64_t virtual_size;  /* bytes */
        char *backing;          /* absolute path of the backing file (resolved against the image's
                                   directory when relative), NULL when none */
        char *backing_raw;      /* the name exactly as stored in the header, NULL when none */
        vmsnap_image_format backing_format; /* from the header extension; probed when absent */
        bool backing_format_known;
        uint32_t internal_snapshots; /* qcow2 nb_snapshots */
        bool encrypted;
        bool dirty;              /* incompatible feature bit 0 */
        bool external_data_file; /* incompatible feature bit 2 */
} vmsnap_image_header;

const char *vmsnap_image_format_name(vmsnap_image_format format);
/* "qcow2" or "raw" -> format; -EINVAL otherwise. */
int vmsnap_image_format_parse(const char *name, vmsnap_image_format *ret);

/* Reads the header of path. A file that does not start with the qcow2 magic is raw.
 * Refuses (with a sentence) a qcow2 header whose fields are out of range. */
int vmsnap_image_header_read(const char *path, vmsnap_image_header *ret, vmsnap_error *error);
void vmsnap_image_header_clear(vmsnap_image_header *header);

/* Calls visit for path and then each backing file down to the base, with depth 0
 * for path. Stops early when visit returns non-zero (that value is returned).
 * Detects loops and refuses chains deeper than 1024. Missing files are an error. */
typedef int (*vmsnap_chain_visit_fn)(const char *path, const vmsnap_image_header *header, unsigned depth,
                                     void *userdata);
int vmsnap_chain_walk(const char *path, vmsnap_chain_visit_fn visit, void *userdata, vmsnap_error *error);
