/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* facts.h: what libvirt last said about a domain: its name, state and the disk
 * targets of its persistent configuration. Reads (query.c) take them from the
 * domain's slot instead of asking libvirt three times per call.
 *
 * They are kept only while the engine watches libvirt's events
 * (vmsnap_engine_watch). A lifecycle event of the domain (defined, undefined,
 * renamed, started, stopped, ...), a reconnect to libvirt, and the end of any
 * vmsnap operation on the domain put them out of date (the slot's domain_changes,
 * the engine's connection_epoch: engine.h); and they are asked for again once
 * they are VMSNAP_FACTS_MAX_AGE_USEC old, for the changes libvirt announces by
 * no event (a disk attached or detached with --config only). */
#pragma once

#include <libvirt/libvirt.h>
#include <stdbool.h>
#include <stddef.h>

#include "vmsnap/vmsnap.h"

#define VMSNAP_FACTS_MAX_AGE_USEC (2ULL * 1000 * 1000)

typedef struct vmsnap_domain_slot vmsnap_domain_slot;

typedef struct vmsnap_domain_facts {
        char *uuid;
        char *name;
        const char *state; /* as vmsnap_domain_state_name() */
        char **targets;    /* disk targets of the persistent configuration */
        size_t n_targets;
        bool targets_known; /* false when the configuration could not be read */
} vmsnap_domain_facts;

void vmsnap_domain_facts_clear(vmsnap_domain_facts *facts);

/* Facts about a domain named by name or UUID, and its slot: from the slot while
 * fresh, else from libvirt (failing with NotFound when no such domain is defined).
 * The domain is the one vmsnap_engine_lookup names: a UUID first, then a name. */
int vmsnap_domain_facts_get(vmsnap_engine *engine, const char *domain, vmsnap_domain_facts *ret,
                            vmsnap_domain_slot **slot_ret, vmsnap_error *error);
/* The same for a domain already looked up. */
int vmsnap_domain_facts_get_for(vmsnap_engine *engine, virDomainPtr domain, vmsnap_domain_facts *ret,
                                vmsnap_domain_slot **slot_ret, vmsnap_error *error);
