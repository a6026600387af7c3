/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* names.h: identifiers and names: UUIDs (snapshot ids, and domains named by
 * UUID) and the rules a snapshot's or a new domain's name must follow. Overlay
 * file names are image.h's. */
#pragma once

#include "vmsnap/vmsnap.h"

/* A random RFC 4122 version 4 UUID in lowercase text form (37 bytes with NUL). */
void vmsnap_uuid_generate(char out[37]);
bool vmsnap_uuid_is_valid(const char *text);
/* True when text is a UUID in any spelling a person or libvirt uses for one: 8-4-4-4-12
 * or 32 hex digits, either case. out (if not NULL) receives the lowercase 8-4-4-4-12 form
 * vmsnap and libvirt print. The one test of "is this reference a UUID". */
bool vmsnap_uuid_parse(const char *text, char out[37]);

typedef enum vmsnap_name_kind {
        VMSNAP_NAME_SNAPSHOT,
        VMSNAP_NAME_DOMAIN, /* a clone's new domain */
} vmsnap_name_kind;

/* The rules of vmsnap_name_validate for a snapshot name or a new domain's name; the
 * message calls the name what it is. */
int vmsnap_name_check(const char *name, vmsnap_name_kind kind, vmsnap_error *error);
