/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* undefined.h: the records of the domains whose metadata the state directory keeps
 * although libvirt no longer defines them, as ListDomains gives them. */
#pragma once

#include <stddef.h>

#include "vmsnap/vmsnap.h"

typedef struct vmsnap_undefined_cache vmsnap_undefined_cache;

vmsnap_undefined_cache *vmsnap_undefined_cache_new(void);
void vmsnap_undefined_cache_free(vmsnap_undefined_cache *cache);

/* Appends to infos (n records, grown as needed) a record for each document in state_dir
 * whose domain infos does not list yet, snapshot_bytes measured now. Any thread. */
void vmsnap_undefined_append(vmsnap_undefined_cache *cache, const char *state_dir,
                             vmsnap_domain_info **infos, size_t *n);
