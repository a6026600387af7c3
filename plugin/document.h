/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* document.h: the model written out, for store.c: as a JSON object, and as the text
 * of a domain's document, one line per snapshot. The text of each snapshot is kept
 * in memory, with a copy of the record it was made from, for as long as the record
 * stays the same: a change to a domain of a thousand snapshots formats the
 * snapshots it changed, not a thousand. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "model.h"

/* The format version of the domain's documents this vmsnap writes: 2 since a change log may
 * stand beside the document (store.h). A vmsnap that reads version 1 alone would not read
 * the log and would lose the changes in it; it refuses version 2 instead. Documents of
 * version 1, which never have a log, are read. */
#define STORE_VERSION 2
#define STORE_VERSION_OLDEST 1

/* The model as a JSON object, intent included (store.c's reader takes it back). */
json_object *vmsnap_store_to_json(const vmsnap_domain_meta *meta);

/* The text of the domain's document at generation, intent left out, ending in a newline;
 * its length in *ret_size. */
char *vmsnap_document_text(const vmsnap_domain_meta *meta, uint64_t generation, size_t *ret_size);

/* One line of the domain's change log (store.h), ending in a newline: what changed from the
 * text made last for the domain, which the store wrote as generation from, to meta at
 * generation. NULL when that text is not known to be what the store holds at from
 * (vmsnap_document_written_get), or when the change cannot be said as one line (snapshots
 * that changed places): the store then writes the whole document. */
char *vmsnap_document_change_text(const vmsnap_domain_meta *meta, uint64_t from, uint64_t generation,
                                  size_t *ret_size);

/* What the store wrote last of a domain from the text made here: its generation, the
 * generation of the whole document the change log builds on (base), and what the store
 * needs to tell that its files are still the ones it wrote. Making a text clears it; the
 * store sets it once the text is safely written. */
typedef struct vmsnap_document_written {
        bool valid;
        uint64_t generation;
        uint64_t base;
        uint32_t base_crc32;     /* of the whole document's text, which the log builds on */
        uint64_t log_size;       /* bytes in the change log */
        uint64_t document_size;  /* bytes in the whole document */
        uint64_t document_inode; /* the whole document's inode, and device */
        uint64_t document_device;
} vmsnap_document_written;

bool vmsnap_document_written_get(const char *uuid, vmsnap_document_written *ret);
void vmsnap_document_written_set(const char *uuid, const vmsnap_document_written *written);

/* Drops what is kept of the document of the domain uuid (its document was removed). */
void vmsnap_document_forget(const char *uuid);
