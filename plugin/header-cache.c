/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* header-cache.c: see header-cache.h. An open-addressed table of at most
 * HEADER_CACHE_SIZE headers behind one mutex; when it is full it starts over,
 * which costs a re-read of each header and nothing else. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "header-cache.h"
#include "path-set.h"
#include "util.h"

#define HEADER_CACHE_SIZE 8192 /* a power of two */
#define HEADER_CACHE_FILL 6144 /* entries before it starts over */
#define RACY_SECONDS 2

typedef struct header_entry {
        char *path; /* NULL: free */
        dev_t device;
        ino_t inode;
        off_t size;
        struct timespec modified, changed;
        int forced; /* -1 probed, else the declared format */
        vmsnap_image_header header;
} header_entry;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static header_entry *cache;
static size_t cache_used;
static unsigned long cache_hits;

static bool same_time(struct timespec a, struct timespec b)
{
        return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* Whether a header read under entry->forced is the one a read under forced gives: a file
 * with the qcow2 magic reads the same probed or declared as anything but raw
 * (image_header_read_fd), and a raw one the same probed or declared raw. So the planner,
 * which reads the files vmsnap made by probing, and the walks, which read each as its
 * parent declares it, share their headers instead of replacing each other's. */
static bool same_reading(const header_entry *entry, int forced)
{
        if (entry->forced == forced)
                return true;
        if (entry->header.format == VMSNAP_FORMAT_QCOW2)
                return forced != (int)VMSNAP_FORMAT_RAW;
        return entry->header.format == VMSNAP_FORMAT_RAW && entry->forced == -1 &&
               forced == (int)VMSNAP_FORMAT_RAW;
}

static bool entry_matches(const header_entry *entry, const struct stat *st, int forced)
{
        return entry->device == st->st_dev && entry->inode == st->st_ino && entry->size == st->st_size &&
               same_time(entry->modified, st->st_mtim) && same_time(entry->changed, st->st_ctim) &&
               same_reading(entry, forced);
}

static void header_copy(vmsnap_image_header *to, const vmsnap_image_header *from)
{
        *to = *from;
        to->backing = xstrdup(from->backing);
        to->backing_raw = xstrdup(from->backing_raw);
}

static void entry_clear(header_entry *entry)
{
        free(entry->path);
        free(entry->header.backing);
        free(entry->header.backing_raw);
        *entry = (header_entry){0};
}

static int forced_key(const vmsnap_image_format *forced)
{
        return forced ? (int)*forced : -1;
}

/* The slot of path: its entry, or the free one where it would go. Call with the lock held. */
static header_entry *slot_of(const char *path)
{
        size_t i = vmsnap_path_hash(path) & (HEADER_CACHE_SIZE - 1);

        for (;; i = (i + 1) & (HEADER_CACHE_SIZE - 1))
                if (!cache[i].path || strcmp(cache[i].path, path) == 0)
                        return &cache[i];
}

bool vmsnap_header_cache_get(const char *path, const struct stat *st, const vmsnap_image_format *forced,
                             vmsnap_image_header *ret)
{
        bool found = false;

        pthread_mutex_lock(&cache_lock);
        if (cache) {
                header_entry *entry = slot_of(path);
                if (entry->path && entry_matches(entry, st, forced_key(forced))) {
                        header_copy(ret, &entry->header);
                        cache_hits++;
                        found = true;
                }
        }
        pthread_mutex_unlock(&cache_lock);
        return found;
}

void vmsnap_header_cache_put(const char *path, const struct stat *st, const vmsnap_image_format *forced,
                             const vmsnap_image_header *header)
{
        struct timespec now;

        /* Racy: a write later in the same tick as the change seen would not move the times. */
        if (clock_gettime(CLOCK_REALTIME, &now) < 0 || st->st_ctim.tv_sec > now.tv_sec - RACY_SECONDS ||
            st->st_mtim.tv_sec > now.tv_sec - RACY_SECONDS)
                return;

        pthread_mutex_lock(&cache_lock);
        if (!cache)
                cache = xcalloc(HEADER_CACHE_SIZE, sizeof(*cache));
        header_entry *entry = slot_of(path);
        if (!entry->path && cache_used >= HEADER_CACHE_FILL) {
                for (size_t i = 0; i < HEADER_CACHE_SIZE; i++)
                        entry_clear(&cache[i]);
                cache_used = 0;
                entry = slot_of(path);
        }
        if (entry->path)
                entry_clear(entry);
        else
                cache_used++;
        *entry = (header_entry){
                .path = xstrdup(path),
                .device = st->st_dev,
                .inode = st->st_ino,
                .size = st->st_size,
                .modified = st->st_mtim,
                .changed = st->st_ctim,
                .forced = forced_key(forced),
        };
        header_copy(&entry->header, header);
        pthread_mutex_unlock(&cache_lock);
}

unsigned long vmsnap_header_cache_hits(void)
{
        pthread_mutex_lock(&cache_lock);
        unsigned long hits = cache_hits;
        pthread_mutex_unlock(&cache_lock);
        return hits;
}

void vmsnap_header_cache_clear(void)
{
        pthread_mutex_lock(&cache_lock);
        if (cache)
                for (size_t i = 0; i < HEADER_CACHE_SIZE; i++)
                        entry_clear(&cache[i]);
        free(cache);
        cache = NULL;
        cache_used = 0;
        pthread_mutex_unlock(&cache_lock);
}
