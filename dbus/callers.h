/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* callers.h: who is calling: the effective UID behind a caller's unique bus name,
 * asked of the bus once per name instead of once per call. Loop thread only. */
#pragma once

#include <stddef.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

typedef struct caller_cache caller_cache;

caller_cache *caller_cache_new(size_t capacity);
void caller_cache_free(caller_cache *cache);

/* The effective UID of the peer that sent message: from the cache, or asked of the
 * bus (a round trip) the first time its unique name is seen. */
int caller_cache_uid(caller_cache *cache, sd_bus_message *message, uid_t *ret);
