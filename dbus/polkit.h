/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* polkit.h: one question to polkit: may this bus peer do this action, with
 * these details? Blocking, so only worker threads ask it. Who counts as root,
 * and what each method's action is, are the manager's. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef enum polkit_answer {
        POLKIT_ANSWER_ALLOWED,
        POLKIT_ANSWER_DENIED,
        POLKIT_ANSWER_CHALLENGE,   /* allowed after authentication, which did not happen */
        POLKIT_ANSWER_UNAVAILABLE, /* polkit could not be asked; reason says why */
} polkit_answer;

/* sender: the caller's unique bus name (the polkit subject). domain and snapshot
 * become the details "domain" and "snapshot" when non-NULL and non-empty. */
polkit_answer polkit_check(const char *sender, const char *action_id, const char *domain,
                           const char *snapshot, bool allow_interaction, char *reason, size_t reason_size);

/* At exit, after the workers stopped: drops the shared authority. */
void polkit_release(void);
