/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* util.h: the small helpers every file of vmsnapd uses: cleanup attributes,
 * string vectors, and time. The engine keeps its own; vmsnapd sees only its
 * public API. */
#pragma once

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p)
{
        free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

/* Hands over what p points to and clears p, so that its cleanup does nothing. */
#define TAKE_PTR(p)                                                                                         \
        ({                                                                                                  \
                typeof(p) _taken_ = (p);                                                                    \
                (p) = NULL;                                                                                 \
                _taken_;                                                                                    \
        })

/* strdup that treats running out of memory as fatal, as the engine does. */
static inline char *xstrdup(const char *s)
{
        char *copy = strdup(s ? s : "");
        if (!copy)
                abort();
        return copy;
}

static inline void *xcalloc(size_t n, size_t size)
{
        void *p = calloc(n ? n : 1, size ? size : 1);
        if (!p)
                abort();
        return p;
}

/* Replaces *field with a copy of value; returns whether it changed. */
static inline int string_update(char **field, const char *value)
{
        if (*field && strcmp(*field, value ? value : "") == 0)
                return 0;
        free(*field);
        *field = xstrdup(value);
        return 1;
}

static inline void strv_free(char **v)
{
        for (char **p = v; p && *p; p++)
                free(*p);
        free(v);
}

static inline size_t strv_length(char *const *v)
{
        size_t n = 0;
        while (v && v[n])
                n++;
        return n;
}

/* Appends a copy of s to the NULL-terminated vector *v. */
static inline void strv_push(char ***v, const char *s)
{
        size_t n = strv_length(*v);
        char **grown = realloc(*v, (n + 2) * sizeof(char *));
        if (!grown)
                abort();
        grown[n] = xstrdup(s);
        grown[n + 1] = NULL;
        *v = grown;
}

static inline uint64_t now_usec(clockid_t clock)
{
        struct timespec ts;
        clock_gettime(clock, &ts);
        return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
}
