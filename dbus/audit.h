/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* audit.h: the record every change leaves once it has run: an entry in the domain's
 * history (kept by the engine, read back by GetHistory) and a structured journal
 * entry with a MESSAGE_ID per operation. Refusals before a change runs are call.c's
 * stderr lines. */
#pragma once

#include <stdbool.h>

#include "call.h"

/* Worker thread, when the change's act has returned (or it was canceled before it
 * started): records c's outcome. Returns true when the journal took the entry and
 * stderr is that same journal, so that a stderr line would say it twice. */
bool audit_record(call *c);
