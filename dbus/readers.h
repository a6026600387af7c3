/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* readers.h: polkit's recent answers to "may this caller read this domain?"
 * (org.example.snapshots.read), per caller's unique bus name and domain name, so that
 * reads of job objects, which sd-bus answers on the loop thread, never wait for polkit.
 * Loop thread only. */
#pragma once

#include <stdbool.h>

/* How long an answer is trusted, and how many are kept (oldest forgotten first). */
#define READERS_TTL_USEC (10 * 1000 * 1000ULL)
#define READERS_CAPACITY 256

typedef struct readers readers;

readers *readers_new(void);
void readers_free(readers *r);
/* 1: allowed, 0: denied, -ENOENT: not asked recently. */
int readers_lookup(readers *r, const char *sender, const char *domain);
void readers_remember(readers *r, const char *sender, const char *domain, bool allowed);
