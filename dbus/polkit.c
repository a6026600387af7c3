/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* polkit.c: authorization through polkit-gobject-1. One shared authority
 * (thread-safe once made); each check runs synchronously in the calling worker
 * thread and never on the bus loop. */
#include <polkit/polkit.h>
#include <pthread.h>
#include <stdio.h>

#include "polkit.h"

static polkit_answer unavailable(GError *error, char *reason, size_t reason_size)
{
        snprintf(reason, reason_size, "the authorization service (polkit) could not be asked: %s",
                 error && error->message ? error->message : "unknown error");
        return POLKIT_ANSWER_UNAVAILABLE;
}

static pthread_mutex_t authority_lock = PTHREAD_MUTEX_INITIALIZER;
static PolkitAuthority *authority_shared;

/* One authority for the whole daemon, made on first use: polkit's object is
 * thread-safe once made, and making it costs a round trip to polkitd. */
static PolkitAuthority *authority_get(GError **error)
{
        PolkitAuthority *authority;

        pthread_mutex_lock(&authority_lock);
        if (!authority_shared)
                authority_shared = polkit_authority_get_sync(NULL, error);
        authority = authority_shared ? g_object_ref(authority_shared) : NULL;
        pthread_mutex_unlock(&authority_lock);
        return authority;
}

void polkit_release(void)
{
        pthread_mutex_lock(&authority_lock);
        g_clear_object(&authority_shared);
        pthread_mutex_unlock(&authority_lock);
}

polkit_answer polkit_check(const char *sender, const char *action_id, const char *domain,
                           const char *snapshot, bool allow_interaction, char *reason, size_t reason_size)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(PolkitAuthority) authority = NULL;
        g_autoptr(PolkitSubject) subject = NULL;
        g_autoptr(PolkitDetails) details = NULL;
        g_autoptr(PolkitAuthorizationResult) result = NULL;
        PolkitCheckAuthorizationFlags flags = POLKIT_CHECK_AUTHORIZATION_FLAGS_NONE;

        authority = authority_get(&error);
        if (!authority)
                return unavailable(error, reason, reason_size);

        subject = polkit_system_bus_name_new(sender);
        details = polkit_details_new();
        if (domain && *domain)
                polkit_details_insert(details, "domain", domain);
        if (snapshot && *snapshot)
                polkit_details_insert(details, "snapshot", snapshot);
        if (allow_interaction)
                flags |= POLKIT_CHECK_AUTHORIZATION_FLAGS_ALLOW_USER_INTERACTION;

        result = polkit_authority_check_authorization_sync(authority, subject, action_id, details, flags,
                                                           NULL, &error);
        if (!result)
                return unavailable(error, reason, reason_size);
        if (polkit_authorization_result_get_is_authorized(result))
                return POLKIT_ANSWER_ALLOWED;
        if (polkit_authorization_result_get_is_challenge(result))
                return POLKIT_ANSWER_CHALLENGE;
        return POLKIT_ANSWER_DENIED;
}
