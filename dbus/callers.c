/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* callers.c: the UID behind each unique bus name. The bus never gives a unique
 * name to a second connection while it runs (D-Bus specification, "Unique
 * Connection Names"), so an answer stays true as long as the name is cached;
 * nothing has to watch for callers leaving. The table is bounded: when it is
 * full the name asked about longest ago is forgotten, and asked again if that
 * caller returns. */
#include <errno.h>

#include "callers.h"
#include "util.h"

typedef struct caller {
        char *name; /* unique name, e.g. ":1.42"; NULL: free entry */
        uid_t uid;
} caller;

struct caller_cache {
        caller *entries;
        size_t capacity;
        size_t next_victim; /* entries are replaced in the order they were filled */
};

caller_cache *caller_cache_new(size_t capacity)
{
        caller_cache *cache = xcalloc(1, sizeof(*cache));

        cache->capacity = capacity ? capacity : 1;
        cache->entries = xcalloc(cache->capacity, sizeof(caller));
        return cache;
}

void caller_cache_free(caller_cache *cache)
{
        if (!cache)
                return;
        for (size_t i = 0; i < cache->capacity; i++)
                free(cache->entries[i].name);
        free(cache->entries);
        free(cache);
}

/* Asks the bus for the credentials of the message's sender. */
static int sender_uid_from_bus(sd_bus_message *message, uid_t *ret)
{
        sd_bus_creds *creds = NULL;
        int r;

        r = sd_bus_query_sender_creds(message, SD_BUS_CREDS_EUID | SD_BUS_CREDS_AUGMENT, &creds);
        if (r < 0)
                return r;
        r = sd_bus_creds_get_euid(creds, ret);
        if (r == -ENODATA)
                r = sd_bus_creds_get_uid(creds, ret);
        sd_bus_creds_unref(creds);
        return r;
}

int caller_cache_uid(caller_cache *cache, sd_bus_message *message, uid_t *ret)
{
        const char *sender = sd_bus_message_get_sender(message);
        caller *slot;
        uid_t uid;
        int r;

        /* A message without a sender came over a direct connection: ask, never cache. */
        if (!sender || sender[0] != ':')
                return sender_uid_from_bus(message, ret);
        for (size_t i = 0; i < cache->capacity; i++)
                if (cache->entries[i].name && strcmp(cache->entries[i].name, sender) == 0) {
                        *ret = cache->entries[i].uid;
                        return 0;
                }
        r = sender_uid_from_bus(message, &uid);
        if (r < 0)
                return r;
        slot = &cache->entries[cache->next_victim];
        cache->next_victim = (cache->next_victim + 1) % cache->capacity;
        free(slot->name);
        slot->name = xstrdup(strempty(sender));
        slot->uid = uid;
        *ret = uid;
        return 0;
}
