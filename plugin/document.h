/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* document.h: the model written out, for store.c: as a JSON object, and as the text
 * of a domain's document, one line per snapshot. The text of each snapshot is kept
 * in memory, with a copy of the record it was made from, for as long as the record
 * stays the same: a change to a domain of a thousand snapshots formats the
 * snapshots it changed, not a thousand. */
#pragma once

#include <json-c/json.h>
#include <stdint.h>

#include "model.h"

/* The format version of a domain's document. */
#define STORE_VERSION 1

/* The model as a JSON object, intent included (store.c's reader takes it back). */
json_object *vmsnap_store_to_json(const vmsnap_domain_meta *meta);

/* The text of the domain's document at generation, intent left out, ending in a newline;
 * its length in *ret_size. */
char *vmsnap_document_text(const vmsnap_domain_meta *meta, uint64_t generation, size_t *ret_size);

/* Drops what is kept of the document of the domain uuid (its document was removed). */
void vmsnap_document_forget(const char *uuid);
