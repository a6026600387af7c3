/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* audit.h: the record every change leaves once it has run: an entry in the domain's
 * history (kept by the engine, read back by GetHistory) and a structured journal
 * entry with a MESSAGE_ID per operation. What the entry says of a call is call.c's;
 * refusals before a change runs are call.c's stderr lines. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vmsnap/vmsnap.h"

/* One change as it ended. */
typedef struct audit_change {
        const char *domain_name, *domain_uuid;
        uint32_t job_id; /* 0: the change had no job */
        /* What the history keeps: operation, snapshot, caller, result, error, messages. */
        const vmsnap_history_entry *entry;
} audit_change;

/* Worker thread, when the change's act has returned (or it was canceled before it
 * started): records it. Returns true when the journal took the entry and stderr is
 * that same journal, so that a stderr line would say it twice. */
bool audit_record(vmsnap_engine *engine, const audit_change *change);
