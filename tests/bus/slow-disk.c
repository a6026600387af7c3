/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* slow-disk.c: preloaded into vmsnapd by harness.sh, a disk that is slow to take new
 * files: each linkat() whose new name starts with VMSNAP_SLOW_DISK_PREFIX waits
 * VMSNAP_SLOW_DISK_MS first. vmsnap names each new overlay with linkat() (fileio.c), so a
 * snapshot of a domain of many such disks takes a while, as one on a busy disk does: long
 * enough to see its progress step by step and to cancel it half-way. Nothing else changes. */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

__attribute__((visibility("default"))) int linkat(int olddirfd, const char *oldpath, int newdirfd,
                                                  const char *newpath, int flags)
{
        static int (*real_linkat)(int, const char *, int, const char *, int);
        const char *prefix = getenv("VMSNAP_SLOW_DISK_PREFIX"), *ms = getenv("VMSNAP_SLOW_DISK_MS");
        const char *base = strrchr(newpath, '/');

        base = base ? base + 1 : newpath;
        if (prefix && *prefix && ms && strncmp(base, prefix, strlen(prefix)) == 0) {
                long wait = strtol(ms, NULL, 10);
                struct timespec t = {wait / 1000, (wait % 1000) * 1000000L};
                nanosleep(&t, NULL);
        }
        if (!real_linkat)
                real_linkat = (int (*)(int, const char *, int, const char *, int))dlsym(RTLD_NEXT, "linkat");
        return real_linkat(olddirfd, oldpath, newdirfd, newpath, flags);
}
