/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* confine.c: where new files may go (confine.h): gathering the allowed directories,
 * walking a caller's directory without following symlinks, and refusing any other
 * place with a sentence that names the allowed ones. */
#include <fcntl.h>
#include <libvirt/virterror.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "confine.h"
#include "domxml.h"
#include "error.h"
#include "fileio.h"

#define CONFIG_MAX_BYTES (64 * 1024)

/* Adds dir (followed as it is: these are the places themselves, not a caller's path)
 * unless it is missing or already listed. */
static void place_add(vmsnap_place **places, size_t *n, const char *dir)
{
        struct stat st;

        if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
                return;
        for (size_t i = 0; i < *n; i++)
                if ((*places)[i].device == st.st_dev && (*places)[i].inode == st.st_ino)
                        return;
        *places = xreallocarray(*places, *n + 1, sizeof(**places));
        (*places)[(*n)++] = (vmsnap_place){xstrdup(dir), st.st_dev, st.st_ino};
}

static void places_free(vmsnap_place *places, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(places[i].dir);
        free(places);
}

void vmsnap_places_clear(vmsnap_places *places)
{
        if (!places)
                return;
        places_free(places->images, places->n_images);
        places_free(places->pools, places->n_pools);
        places_free(places->configured, places->n_configured);
        free(places->config_path);
        free(places->config_problem);
        *places = (vmsnap_places){0};
}

/* The pool's directory, when it is an active pool of type dir; NULL otherwise. */
static char *active_dir_pool_path(virStoragePoolPtr pool)
{
        _cleanup_free_ char *xml = NULL, *type = NULL;
        char *path = NULL;

        if (virStoragePoolIsActive(pool) != 1)
                return NULL;
        xml = virStoragePoolGetXMLDesc(pool, 0);
        if (!xml || vmsnap_xml_pool_target(xml, &type, &path, NULL) < 0)
                return NULL;
        if (!type || strcmp(type, "dir") != 0 || !path || path[0] != '/') {
                free(path);
                return NULL;
        }
        return path;
}

int vmsnap_pool_dir(virConnectPtr connection, const char *pool_name, char **ret, vmsnap_error *error)
{
        virStoragePoolPtr pool = virStoragePoolLookupByName(connection, pool_name);
        _cleanup_free_ char *path = NULL;

        if (!pool)
                return vmsnap_error_set(error, -ENOENT, VMSNAP_ERROR_NOT_FOUND,
                                        "there is no libvirt storage pool named \"%s\"", pool_name);
        path = active_dir_pool_path(pool);
        virStoragePoolFree(pool);
        if (!path)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "storage pool \"%s\" is not an active pool of type dir; clones go "
                                        "into active directory pools only",
                                        pool_name);
        /* The pool's path is libvirt's (the administrator's): symlinks in it are theirs. */
        return vmsnap_path_canonical(path, ret, error);
}

static void gather_pools(virConnectPtr connection, vmsnap_places *places)
{
        virStoragePoolPtr *pools = NULL;
        int n = virConnectListAllStoragePools(connection, &pools,
                                              VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE |
                                                      VIR_CONNECT_LIST_STORAGE_POOLS_DIR);

        /* A libvirt without storage driver has no pools: nothing to add. */
        if (n < 0) {
                virResetLastError();
                return;
        }
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *path = active_dir_pool_path(pools[i]);
                if (path)
                        place_add(&places->pools, &places->n_pools, path);
                virStoragePoolFree(pools[i]);
        }
        free(pools);
}

static void config_refuse(vmsnap_places *places, const char *format, ...)
        __attribute__((format(printf, 2, 3)));
static void config_refuse(vmsnap_places *places, const char *format, ...)
{
        va_list ap;

        va_start(ap, format);
        places->config_problem = xvasprintf(format, ap);
        va_end(ap);
        places_free(places->configured, places->n_configured);
        places->configured = NULL;
        places->n_configured = 0;
}

/* Reads the clone-targets file through one descriptor: what is checked is what is read. */
static void gather_configured(vmsnap_places *places)
{
        const char *path = places->config_path;
        _cleanup_free_ char *text = NULL;
        struct stat st;
        size_t size = 0;
        unsigned line_number = 0;
        int fd, r;

        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                if (errno != ENOENT)
                        config_refuse(places, "it cannot be opened (%s)", strerror(errno));
                return;
        }
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                config_refuse(places, "it is not a regular file");
                goto out;
        }
        if (st.st_uid != 0 && st.st_uid != geteuid()) {
                config_refuse(places, "it is owned by uid %u, not by root", (unsigned)st.st_uid);
                goto out;
        }
        if (st.st_mode & (S_IWGRP | S_IWOTH)) {
                config_refuse(places,
                              "it is writable by %s (mode %04o), so anyone who may write it could let "
                              "clones write anywhere; make it writable by its owner only (chmod go-w %s)",
                              (st.st_mode & S_IWOTH) ? "others" : "its group",
                              (unsigned)(st.st_mode & 07777), path);
                goto out;
        }
        if (st.st_size > CONFIG_MAX_BYTES) {
                config_refuse(places, "it is larger than %d bytes", CONFIG_MAX_BYTES);
                goto out;
        }
        text = xcalloc(1, (size_t)st.st_size + 1);
        r = vmsnap_pread_full(fd, text, (size_t)st.st_size, 0, &size);
        if (r < 0) {
                config_refuse(places, "it cannot be read (%s)", strerror(-r));
                goto out;
        }
        text[size] = '\0';

        for (char *line = text, *next; line && *line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                line_number++;
                line += strspn(line, " \t");
                size_t length = strlen(line);
                while (length > 0 &&
                       (line[length - 1] == ' ' || line[length - 1] == '\t' || line[length - 1] == '\r'))
                        line[--length] = '\0';
                if (length == 0 || line[0] == '#')
                        continue;
                if (line[0] != '/') {
                        config_refuse(places, "line %u (\"%.200s\") is not an absolute directory",
                                      line_number, line);
                        goto out;
                }
                place_add(&places->configured, &places->n_configured, line);
        }
out:
        close(fd);
}

int vmsnap_places_gather(virConnectPtr connection, const char *const *image_paths, size_t n_image_paths,
                         const char *config_path, vmsnap_places *ret, vmsnap_error *error)
{
        *ret = (vmsnap_places){0};
        for (size_t i = 0; i < n_image_paths; i++) {
                _cleanup_free_ char *dir = NULL, *canonical = NULL;

                if (!image_paths[i] || image_paths[i][0] != '/')
                        continue;
                dir = path_dirname(image_paths[i]);
                if (vmsnap_path_canonical(dir, &canonical, NULL) == 0)
                        place_add(&ret->images, &ret->n_images, canonical);
        }
        if (connection)
                gather_pools(connection, ret);
        ret->config_path = xstrdup(config_path ? config_path : VMSNAP_CLONE_TARGETS_FILE);
        gather_configured(ret);
        return 0;
}

static bool place_has(const vmsnap_place *places, size_t n, const struct stat *st)
{
        for (size_t i = 0; i < n; i++)
                if (places[i].device == st->st_dev && places[i].inode == st->st_ino)
                        return true;
        return false;
}

static void list_append(char *buffer, size_t size, const vmsnap_place *places, size_t n)
{
        size_t used = strlen(buffer);

        if (n == 0) {
                snprintf(buffer + used, size - used, "none");
                return;
        }
        for (size_t i = 0; i < n && used < size; i++) {
                snprintf(buffer + used, size - used, "%s%s", i ? ", " : "", places[i].dir);
                used = strlen(buffer);
        }
}

/* "the directories of the domain's images (...), of active libvirt dir pools (...) and
 * those listed in FILE (...)" */
static void places_describe(const vmsnap_places *places, char *allowed, size_t size)
{
        snprintf(allowed, size, "the directories of the domain's images (");
        list_append(allowed, size, places->images, places->n_images);
        snprintf(allowed + strlen(allowed), size - strlen(allowed), "), of active libvirt dir pools (");
        list_append(allowed, size, places->pools, places->n_pools);
        snprintf(allowed + strlen(allowed), size - strlen(allowed), ") and those listed in %s (",
                 places->config_path);
        if (places->config_problem)
                snprintf(allowed + strlen(allowed), size - strlen(allowed), "not used: %s",
                         places->config_problem);
        else
                list_append(allowed, size, places->configured, places->n_configured);
        snprintf(allowed + strlen(allowed), size - strlen(allowed), ")");
}

int vmsnap_places_check(const vmsnap_places *places, const char *dir, const char *what, char **canonical_ret,
                        struct stat *st_ret, vmsnap_error *error)
{
        _cleanup_free_ char *normalized = NULL;
        char allowed[768];
        struct stat st;
        int fd, r;

        places_describe(places, allowed, sizeof(allowed));
        /* The walk refuses every symlink and the directory is known by device and inode,
         * so no name can stand for another place. What remains: the copy is created later
         * by path (vmsnap_file_create_like, which opens the last directory with O_NOFOLLOW
         * and creates with O_EXCL|O_NOFOLLOW; qemu-img, the fallback, opens it by path too).
         * Right after creating it, the collapse walks the path again and checks that the new
         * file sits in this very directory (collapse.c, target_in_its_place), and removes it
         * otherwise. Between this walk and that check, whoever may write a directory on the
         * path could swap a component for a symlink and back; the allowed places are root's,
         * libvirt's and the administrator's directories, whose parents only root writes on
         * a sane system. */
        r = vmsnap_dir_open_nofollow(dir, &fd, &normalized, error);
        if (r < 0) {
                if (error) {
                        char reason[sizeof(error->message)];
                        snprintf(reason, sizeof(reason), "%s", error->message);
                        vmsnap_error_set(error, r, VMSNAP_ERROR_INVALID_ARGUMENT,
                                         "%s: %s; clones go only into %s", what, reason, allowed);
                }
                return r;
        }
        r = fstat(fd, &st);
        close(fd);
        if (r < 0)
                return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED, "cannot read %s: %m", dir);

        if (place_has(places->images, places->n_images, &st) ||
            place_has(places->pools, places->n_pools, &st) ||
            place_has(places->configured, places->n_configured, &st)) {
                *canonical_ret = normalized;
                normalized = NULL;
                if (st_ret)
                        *st_ret = st;
                return 0;
        }
        return vmsnap_error_set(error, -EPERM, VMSNAP_ERROR_INVALID_ARGUMENT,
                                "%s %s is not a place clones may be written to; they go only into %s", what,
                                normalized, allowed);
}
