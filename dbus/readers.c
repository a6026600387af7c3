/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* readers.c: the table of readers.h: a ring of READERS_CAPACITY answers, each
 * trusted for READERS_TTL_USEC. A unique bus name is never given to a second
 * connection while the bus runs, so an answer cannot pass to another caller; the
 * time limit bounds how long a changed polkit rule goes unnoticed. */
#include <errno.h>

#include "readers.h"
#include "util.h"

typedef struct answer {
        char *sender; /* NULL: free */
        char *domain;
        bool allowed;
        uint64_t until; /* CLOCK_MONOTONIC µs */
} answer;

struct readers {
        answer entries[READERS_CAPACITY];
        size_t next_victim;
};

readers *readers_new(void)
{
        return xcalloc(1, sizeof(readers));
}

void readers_free(readers *r)
{
        if (!r)
                return;
        for (size_t i = 0; i < READERS_CAPACITY; i++) {
                free(r->entries[i].sender);
                free(r->entries[i].domain);
        }
        free(r);
}

static answer *readers_find(readers *r, const char *sender, const char *domain)
{
        for (size_t i = 0; i < READERS_CAPACITY; i++) {
                answer *a = &r->entries[i];

                if (a->sender && strcmp(a->sender, sender) == 0 && strcmp(a->domain, domain) == 0)
                        return a;
        }
        return NULL;
}

int readers_lookup(readers *r, const char *sender, const char *domain)
{
        answer *a;

        if (!sender || !domain)
                return -ENOENT;
        a = readers_find(r, sender, domain);
        if (!a || now_usec(CLOCK_MONOTONIC) >= a->until)
                return -ENOENT;
        return a->allowed ? 1 : 0;
}

void readers_remember(readers *r, const char *sender, const char *domain, bool allowed)
{
        answer *a;

        if (!sender || !domain)
                return;
        a = readers_find(r, sender, domain);
        if (!a) {
                a = &r->entries[r->next_victim];
                r->next_victim = (r->next_victim + 1) % READERS_CAPACITY;
                free(a->sender);
                free(a->domain);
                a->sender = xstrdup(strempty(sender));
                a->domain = xstrdup(strempty(domain));
        }
        a->allowed = allowed;
        a->until = now_usec(CLOCK_MONOTONIC) + READERS_TTL_USEC;
}
