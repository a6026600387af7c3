/* names.h: identifiers and names: UUIDs for snapshots, default snapshot names,
 * and the overlay file names vmsnap chooses. */
#pragma once

#include "vmsnap/vmsnap.h"

/* A random RFC 4122 version 4 UUID in lowercase text form (37 bytes with NUL). */
void vmsnap_uuid_generate(char out[37]);
bool vmsnap_uuid_is_valid(const char *text);
