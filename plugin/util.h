/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* util.h: the small helpers the engine, vmsnapd and vmsnapctl share: allocation,
 * cleanup attributes, string vectors, paths and time. One out-of-memory policy:
 * abort, since a process that cannot copy a name has nothing sensible left to do.
 * Header only and libc only, so vmsnapctl uses it without linking the engine. */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- cleanup on scope exit, like systemd's _cleanup_ ---- */

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p)
{
        free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

/* Closes a file descriptor (negative: none) on scope exit. */
static inline void closep(int *fd)
{
        if (*fd >= 0)
                close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

/* Hands over what p points to and clears p, so that its cleanup does nothing. */
#define TAKE_PTR(p)                                                                                         \
        ({                                                                                                  \
                typeof(p) _taken_ = (p);                                                                    \
                (p) = NULL;                                                                                 \
                _taken_;                                                                                    \
        })

/* ---- allocation: never returns NULL ---- */

static inline _Noreturn void oom(void)
{
        abort();
}

static inline void *xmalloc(size_t size)
{
        void *p = malloc(size ? size : 1);
        if (!p)
                oom();
        return p;
}

/* Zeroed; never NULL, also for n == 0. */
static inline void *xcalloc(size_t n, size_t size)
{
        void *p = calloc(n ? n : 1, size ? size : 1);
        if (!p)
                oom();
        return p;
}

/* Resizes p to n elements of size bytes, refusing a product that overflows. */
static inline void *xreallocarray(void *p, size_t n, size_t size)
{
        void *grown = reallocarray(p, n ? n : 1, size ? size : 1);
        if (!grown)
                oom();
        return grown;
}

/* A copy of s; NULL stays NULL (use strempty() for "" instead). */
static inline char *xstrdup(const char *s)
{
        if (!s)
                return NULL;
        char *copy = strdup(s);
        if (!copy)
                oom();
        return copy;
}

/* A copy of at most n bytes of s, always terminated. */
static inline char *xstrndup(const char *s, size_t n)
{
        char *copy = strndup(s, n);
        if (!copy)
                oom();
        return copy;
}

static inline __attribute__((format(printf, 1, 0))) char *xvasprintf(const char *format, va_list args)
{
        char *text;

        if (vasprintf(&text, format, args) < 0)
                oom();
        return text;
}

static inline __attribute__((format(printf, 1, 2))) char *xasprintf(const char *format, ...)
{
        va_list args;

        va_start(args, format);
        char *text = xvasprintf(format, args);
        va_end(args);
        return text;
}

/* ---- strings and string vectors ---- */

static inline const char *strempty(const char *s)
{
        return s ? s : "";
}

/* Replaces *field with a copy of value (NULL: ""); returns whether it changed. */
static inline int string_update(char **field, const char *value)
{
        if (*field && strcmp(*field, strempty(value)) == 0)
                return 0;
        free(*field);
        *field = xstrdup(strempty(value));
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

/* A copy of the NULL-terminated vector v (NULL: an empty one), each string copied. */
static inline char **strv_copy(char *const *v)
{
        size_t n = strv_length(v);
        char **copy = xcalloc(n + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++)
                copy[i] = xstrdup(v[i]);
        return copy;
}

/* Appends a copy of s (NULL: "") to the NULL-terminated vector *v. */
static inline void strv_push(char ***v, const char *s)
{
        size_t n = strv_length(*v);
        char **grown = xreallocarray(*v, n + 2, sizeof(char *));
        grown[n] = xstrdup(strempty(s));
        grown[n + 1] = NULL;
        *v = grown;
}

/* ---- paths ---- */

/* The directory holding the file path names, as dirname(3) has it for a file: "."
 * when path has no slash, "/" for a file at the root. Never NULL. */
static inline char *path_dirname(const char *path)
{
        const char *slash = strrchr(path, '/');

        if (!slash)
                return xstrdup(".");
        if (slash == path)
                return xstrdup("/");
        return xstrndup(path, (size_t)(slash - path));
}

/* ---- time ---- */

static inline uint64_t now_usec(clockid_t clock)
{
        struct timespec ts;
        clock_gettime(clock, &ts);
        return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
}

/* Sleeps ms milliseconds, resuming after a signal. */
static inline void sleep_ms(unsigned ms)
{
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}
