/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* undefined.c: the records of the domains libvirt no longer defines (undefined.h). What
 * a record says comes from the domain's document, which is read once and kept while its
 * file stays the same one: device, inode, modification and change times and size. A save
 * writes a new file and renames it over the old one (store.c), so every save gives a new
 * key. The documents are only read: what a crash left unfinished waits for the domain's
 * return, when the load recovers it with the domain at hand. snapshot_bytes is measured
 * on every call, as for a defined domain's live files. */
#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "model.h"
#include "names.h"
#include "store.h"
#include "undefined.h"
#include "util.h"

#define UUID_TEXT_LENGTH 36

/* Which file a stat() saw, and as it was then. */
typedef struct file_stamp {
        dev_t dev;
        ino_t ino;
        struct timespec mtime, ctime;
        off_t size;
} file_stamp;

/* The metadata's stamp: its document's, and its change log's (zero when it has none). */
typedef struct store_stamp {
        file_stamp document, changes;
} store_stamp;

typedef struct kept_document {
        char uuid[UUID_TEXT_LENGTH + 1];
        store_stamp stamp;
        bool seen;                 /* listed in the state directory by the current call */
        vmsnap_domain_info record; /* snapshot_bytes 0: measured by each call */
        char **owned;
        size_t n_owned;
} kept_document;

struct vmsnap_undefined_cache {
        pthread_mutex_t lock;
        kept_document *documents;
        size_t n_documents;
};

vmsnap_undefined_cache *vmsnap_undefined_cache_new(void)
{
        vmsnap_undefined_cache *cache = xcalloc(1, sizeof(*cache));
        pthread_mutex_init(&cache->lock, NULL);
        return cache;
}

static void kept_document_clear(kept_document *document)
{
        vmsnap_domain_info_clear(&document->record);
        for (size_t i = 0; i < document->n_owned; i++)
                free(document->owned[i]);
        free(document->owned);
        document->owned = NULL;
        document->n_owned = 0;
}

void vmsnap_undefined_cache_free(vmsnap_undefined_cache *cache)
{
        if (!cache)
                return;
        for (size_t i = 0; i < cache->n_documents; i++)
                kept_document_clear(&cache->documents[i]);
        free(cache->documents);
        pthread_mutex_destroy(&cache->lock);
        free(cache);
}

static file_stamp file_stamp_of(const struct stat *st)
{
        return (file_stamp){st->st_dev, st->st_ino, st->st_mtim, st->st_ctim, st->st_size};
}

static bool same_stamp(const file_stamp *a, const file_stamp *b)
{
        return a->dev == b->dev && a->ino == b->ino && a->mtime.tv_sec == b->mtime.tv_sec &&
               a->mtime.tv_nsec == b->mtime.tv_nsec && a->ctime.tv_sec == b->ctime.tv_sec &&
               a->ctime.tv_nsec == b->ctime.tv_nsec && a->size == b->size;
}

static bool same_files(const kept_document *document, const store_stamp *stamp)
{
        return same_stamp(&document->stamp.document, &stamp->document) &&
               same_stamp(&document->stamp.changes, &stamp->changes);
}

/* Reads the document of uuid into document, keyed by st (taken before the read: a file
 * replaced meanwhile only makes the next call read it again). */
static bool kept_document_read(kept_document *document, const char *state_dir, const char *uuid,
                               const store_stamp *stamp)
{
        vmsnap_domain_meta *meta = NULL;

        if (vmsnap_store_load(state_dir, uuid, &meta, NULL) < 0)
                return false;
        const vmsnap_snapshot *current =
                meta->current_id ? vmsnap_domain_meta_find_id(meta, meta->current_id) : NULL;
        snprintf(document->uuid, sizeof(document->uuid), "%s", uuid);
        document->stamp = *stamp;
        document->record = (vmsnap_domain_info){
                .name = xstrdup(meta->name && *meta->name ? meta->name : uuid),
                .uuid = xstrdup(uuid),
                .state = xstrdup("undefined"),
                .current_snapshot = xstrdup(current ? current->name : ""),
                .in_preview = meta->preview != NULL,
                .snapshot_count = (unsigned)meta->n_snapshots,
                .defined = false,
        };
        document->owned = meta->owned;
        document->n_owned = meta->n_owned;
        meta->owned = NULL;
        meta->n_owned = 0;
        vmsnap_domain_meta_free(meta);
        return true;
}

/* With the cache locked: the kept document of uuid, read again when its file changed;
 * NULL when it cannot be read. */
static kept_document *kept_document_get(vmsnap_undefined_cache *cache, const char *state_dir,
                                        const char *uuid, const store_stamp *stamp)
{
        kept_document *document = NULL;

        for (size_t i = 0; i < cache->n_documents && !document; i++)
                if (strcmp(cache->documents[i].uuid, uuid) == 0)
                        document = &cache->documents[i];
        if (document && same_files(document, stamp))
                return document;
        if (!document) {
                cache->documents =
                        xreallocarray(cache->documents, cache->n_documents + 1, sizeof(*cache->documents));
                document = &cache->documents[cache->n_documents++];
        } else
                kept_document_clear(document);
        *document = (kept_document){0};
        if (kept_document_read(document, state_dir, uuid, stamp))
                return document;
        /* Unreadable now: forgotten, and tried again by the next call. */
        *document = cache->documents[--cache->n_documents];
        return NULL;
}

static bool uuid_listed(const vmsnap_domain_info *infos, size_t n, const char *uuid)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(infos[i].uuid, uuid) == 0)
                        return true;
        return false;
}

static void record_copy(const vmsnap_domain_info *from, vmsnap_domain_info *to)
{
        *to = *from;
        to->name = xstrdup(strempty(from->name));
        to->uuid = xstrdup(strempty(from->uuid));
        to->state = xstrdup(strempty(from->state));
        to->current_snapshot = xstrdup(strempty(from->current_snapshot));
}

void vmsnap_undefined_append(vmsnap_undefined_cache *cache, const char *state_dir,
                             vmsnap_domain_info **infos, size_t *n)
{
        DIR *dir = opendir(state_dir);
        struct dirent *entry;
        size_t first = *n;
        char ***owned = NULL; /* per appended record: its files, measured outside the lock */
        size_t *n_owned = NULL;

        if (!dir)
                return;
        pthread_mutex_lock(&cache->lock);
        for (size_t i = 0; i < cache->n_documents; i++)
                cache->documents[i].seen = false;
        while ((entry = readdir(dir))) {
                char uuid[UUID_TEXT_LENGTH + 1];
                struct stat st;
                store_stamp stamp = {0};
                char changes[UUID_TEXT_LENGTH + 32];
                size_t length = strlen(entry->d_name);

                if (length != UUID_TEXT_LENGTH + 5 || strcmp(entry->d_name + UUID_TEXT_LENGTH, ".json") != 0)
                        continue;
                snprintf(uuid, sizeof(uuid), "%.36s", entry->d_name);
                if (!vmsnap_uuid_is_valid(uuid) || uuid_listed(*infos, *n, uuid) ||
                    fstatat(dirfd(dir), entry->d_name, &st, 0) < 0)
                        continue;
                stamp.document = file_stamp_of(&st);
                snprintf(changes, sizeof(changes), "%s.changes.json", uuid);
                if (fstatat(dirfd(dir), changes, &st, 0) == 0)
                        stamp.changes = file_stamp_of(&st);
                kept_document *document = kept_document_get(cache, state_dir, uuid, &stamp);
                if (!document)
                        continue;
                document->seen = true;
                size_t k = *n - first;
                *infos = xreallocarray(*infos, *n + 2, sizeof(**infos));
                owned = xreallocarray(owned, k + 1, sizeof(*owned));
                n_owned = xreallocarray(n_owned, k + 1, sizeof(*n_owned));
                record_copy(&document->record, &(*infos)[(*n)++]);
                owned[k] = xcalloc(document->n_owned + 1, sizeof(char *));
                for (size_t i = 0; i < document->n_owned; i++)
                        owned[k][i] = xstrdup(document->owned[i]);
                n_owned[k] = document->n_owned;
        }
        /* A document gone from the directory (a purge, a define) is forgotten. */
        for (size_t i = 0; i < cache->n_documents;)
                if (!cache->documents[i].seen) {
                        kept_document_clear(&cache->documents[i]);
                        cache->documents[i] = cache->documents[--cache->n_documents];
                } else
                        i++;
        pthread_mutex_unlock(&cache->lock);
        closedir(dir);
        /* File I/O: outside the lock. */
        for (size_t k = 0; k < *n - first; k++) {
                (*infos)[first + k].snapshot_bytes = vmsnap_files_allocated(owned[k], n_owned[k]);
                for (size_t i = 0; i < n_owned[k]; i++)
                        free(owned[k][i]);
                free(owned[k]);
        }
        free(owned);
        free(n_owned);
}
