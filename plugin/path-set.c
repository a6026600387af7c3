/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* path-set.c: see path-set.h. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "path-set.h"
#include "util.h"

uint64_t vmsnap_path_hash(const char *path)
{
        uint64_t hash = 14695981039346656037ULL;

        for (const unsigned char *p = (const unsigned char *)path; *p; p++)
                hash = (hash ^ *p) * 1099511628211ULL;
        return hash;
}

/* The slot of path: where it is, or the free one where it would go. */
static char **slot_of(char **slots, size_t size, const char *path)
{
        for (size_t i = vmsnap_path_hash(path) & (size - 1);; i = (i + 1) & (size - 1))
                if (!slots[i] || strcmp(slots[i], path) == 0)
                        return &slots[i];
}

bool vmsnap_path_set_contains(const vmsnap_path_set *set, const char *path)
{
        return set->size && *slot_of(set->slots, set->size, path);
}

/* Adds path: true; false when it was there already. */
static bool add(vmsnap_path_set *set, char *path)
{
        /* At most half full, so that a lookup probes one or two slots. */
        if (2 * (set->n + 1) > set->size) {
                size_t size = set->size ? 2 * set->size : 64;
                char **slots = xcalloc(size, sizeof(char *));
                for (size_t i = 0; i < set->size; i++)
                        if (set->slots[i])
                                *slot_of(slots, size, set->slots[i]) = set->slots[i];
                free(set->slots);
                set->slots = slots;
                set->size = size;
        }
        char **slot = slot_of(set->slots, set->size, path);
        if (*slot)
                return false;
        *slot = path;
        set->n++;
        return true;
}

bool vmsnap_path_set_add(vmsnap_path_set *set, char *path)
{
        assert(!set->borrowed);
        if (add(set, path))
                return true;
        free(path);
        return false;
}

bool vmsnap_path_set_add_borrowed(vmsnap_path_set *set, const char *path)
{
        assert(set->borrowed || set->n == 0);
        set->borrowed = true;
        return add(set, (char *)path); /* never freed: see clear */
}

void vmsnap_path_set_clear(vmsnap_path_set *set)
{
        for (size_t i = 0; !set->borrowed && i < set->size; i++)
                free(set->slots[i]);
        free(set->slots);
        *set = (vmsnap_path_set){0};
}

int vmsnap_path_canonical_in(vmsnap_resolved_dirs *dirs, const char *path, char **ret, vmsnap_error *error)
{
        const char *slash = path ? strrchr(path, '/') : NULL;
        bool plain_name = slash && slash != path && slash[1] && strcmp(slash + 1, ".") != 0 &&
                          strcmp(slash + 1, "..") != 0;
        struct stat st;
        int looked = -1;

        /* Relative paths, the root's files, names that are "." or "..", and symlinks are
         * resolved whole; so is anything lstat() cannot look at, for realpath's own error. */
        if (plain_name)
                looked = lstat(path, &st);
        if (!plain_name || (looked < 0 && errno != ENOENT) || (looked == 0 && S_ISLNK(st.st_mode)))
                return vmsnap_path_canonical(path, ret, error);

        size_t dir_length = (size_t)(slash - path), i;
        for (i = 0; i < dirs->n; i++)
                if (strlen(dirs->dirs[i]) == dir_length && memcmp(dirs->dirs[i], path, dir_length) == 0)
                        break;
        if (i == dirs->n) {
                _cleanup_free_ char *dir = xstrndup(path, dir_length);
                char *resolved = realpath(dir, NULL);
                if (!resolved) /* realpath's error, as the whole path gives it */
                        return vmsnap_path_canonical(path, ret, error);
                dirs->dirs = xreallocarray(dirs->dirs, dirs->n + 1, sizeof(char *));
                dirs->resolved = xreallocarray(dirs->resolved, dirs->n + 1, sizeof(char *));
                dirs->dirs[dirs->n] = TAKE_PTR(dir);
                dirs->resolved[dirs->n++] = resolved;
        }
        const char *resolved = dirs->resolved[i];
        *ret = xasprintf("%s%s%s", resolved, strcmp(resolved, "/") == 0 ? "" : "/", slash + 1);
        return 0;
}

void vmsnap_resolved_dirs_clear(vmsnap_resolved_dirs *dirs)
{
        for (size_t i = 0; i < dirs->n; i++) {
                free(dirs->dirs[i]);
                free(dirs->resolved[i]);
        }
        free(dirs->dirs);
        free(dirs->resolved);
        *dirs = (vmsnap_resolved_dirs){0};
}
