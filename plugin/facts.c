/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* facts.c: the domain facts kept for reads (see facts.h). A fetch that raced
 * with an event is used for the read that made it but not kept: the event may
 * be newer than what libvirt answered. */
#include <libvirt/virterror.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "domxml.h"
#include "engine.h"
#include "error.h"
#include "facts.h"
#include "names.h"

void vmsnap_domain_facts_clear(vmsnap_domain_facts *facts)
{
        if (!facts)
                return;
        for (size_t i = 0; i < facts->n_targets; i++)
                free(facts->targets[i]);
        free(facts->targets);
        free(facts->name);
        free(facts->uuid);
        *facts = (vmsnap_domain_facts){0};
}

static void facts_copy(const vmsnap_domain_facts *from, vmsnap_domain_facts *to)
{
        to->uuid = xstrdup(strempty(from->uuid));
        to->name = xstrdup(strempty(from->name));
        to->state = from->state;
        to->targets_known = from->targets_known;
        to->n_targets = from->n_targets;
        to->targets = xcalloc(from->n_targets + 1, sizeof(char *));
        for (size_t i = 0; i < from->n_targets; i++)
                to->targets[i] = xstrdup(strempty(from->targets[i]));
}

static void facts_free(vmsnap_domain_facts *facts)
{
        vmsnap_domain_facts_clear(facts);
        free(facts);
}

/* With slot->data_lock held: copies the slot's facts if they may be used. */
static bool slot_facts_take(vmsnap_engine *engine, vmsnap_domain_slot *slot, vmsnap_domain_facts *ret)
{
        if (!engine->watching || !slot->facts || slot->facts_domain_changes != slot->domain_changes ||
            slot->facts_connection_epoch != vmsnap_engine_connection_epoch(engine) ||
            now_usec(CLOCK_MONOTONIC) - slot->facts_fetched_usec >= VMSNAP_FACTS_MAX_AGE_USEC)
                return false;
        facts_copy(slot->facts, ret);
        return true;
}

/* The existing slot whose fresh facts are of the domain with this UUID, or (uuid NULL)
 * of the domain with this name, copying them. */
static vmsnap_domain_slot *find_fresh(vmsnap_engine *engine, const char *uuid, const char *name,
                                      vmsnap_domain_facts *ret)
{
        vmsnap_domain_slot *found = NULL;

        if (!engine->watching)
                return NULL;
        pthread_mutex_lock(&engine->slots_lock);
        for (size_t i = 0; i < engine->n_slots && !found; i++) {
                vmsnap_domain_slot *slot = engine->slots[i];
                pthread_mutex_lock(&slot->data_lock);
                if (slot->facts &&
                    (uuid ? strcmp(slot->uuid, uuid) == 0 : strcmp(slot->facts->name, name) == 0) &&
                    slot_facts_take(engine, slot, ret))
                        found = slot;
                pthread_mutex_unlock(&slot->data_lock);
        }
        pthread_mutex_unlock(&engine->slots_lock);
        return found;
}

/* Asks libvirt, and keeps the answer in the slot unless an event came meanwhile. */
static int facts_fetch(vmsnap_engine *engine, virDomainPtr domain, vmsnap_domain_facts *ret,
                       vmsnap_domain_slot **slot_ret, vmsnap_error *error)
{
        char uuid[VIR_UUID_STRING_BUFLEN];
        vmsnap_xml_disk *disks = NULL;
        size_t n_disks = 0;
        char *xml;

        if (virDomainGetUUIDString(domain, uuid) < 0)
                return vmsnap_error_set(error, -EIO, VMSNAP_ERROR_FAILED, "cannot read a domain's UUID");
        vmsnap_domain_slot *slot = vmsnap_engine_slot(engine, uuid);
        pthread_mutex_lock(&slot->data_lock);
        unsigned changes = slot->domain_changes, epoch = vmsnap_engine_connection_epoch(engine);
        pthread_mutex_unlock(&slot->data_lock);

        vmsnap_domain_facts facts = {
                .uuid = xstrdup(strempty(uuid)),
                .name = xstrdup(strempty(virDomainGetName(domain))),
                .state = vmsnap_domain_state_name(domain),
        };
        xml = virDomainGetXMLDesc(domain, VIR_DOMAIN_XML_INACTIVE);
        if (xml && vmsnap_xml_disks(xml, &disks, &n_disks, NULL) == 0) {
                facts.targets_known = true;
                facts.targets = xcalloc(n_disks + 1, sizeof(char *));
                for (size_t i = 0; i < n_disks; i++)
                        facts.targets[facts.n_targets++] = xstrdup(strempty(disks[i].target));
        }
        vmsnap_xml_disks_free(disks, n_disks);
        free(xml);

        pthread_mutex_lock(&slot->data_lock);
        if (engine->watching && slot->domain_changes == changes &&
            vmsnap_engine_connection_epoch(engine) == epoch && facts.targets_known) {
                if (slot->facts)
                        slot->facts_free(slot->facts);
                slot->facts = xcalloc(1, sizeof(*slot->facts));
                slot->facts_free = facts_free;
                facts_copy(&facts, slot->facts);
                slot->facts_connection_epoch = epoch;
                slot->facts_domain_changes = changes;
                slot->facts_fetched_usec = now_usec(CLOCK_MONOTONIC);
        }
        pthread_mutex_unlock(&slot->data_lock);
        *ret = facts;
        *slot_ret = slot;
        return 0;
}

int vmsnap_domain_facts_get_for(vmsnap_engine *engine, virDomainPtr domain, vmsnap_domain_facts *ret,
                                vmsnap_domain_slot **slot_ret, vmsnap_error *error)
{
        char uuid[VIR_UUID_STRING_BUFLEN];
        vmsnap_domain_slot *slot;

        if (virDomainGetUUIDString(domain, uuid) < 0)
                return vmsnap_error_set(error, -EIO, VMSNAP_ERROR_FAILED, "cannot read a domain's UUID");
        slot = find_fresh(engine, uuid, NULL, ret);
        if (slot) {
                *slot_ret = slot;
                return 0;
        }
        return facts_fetch(engine, domain, ret, slot_ret, error);
}

int vmsnap_domain_facts_get(vmsnap_engine *engine, const char *domain, vmsnap_domain_facts *ret,
                            vmsnap_domain_slot **slot_ret, vmsnap_error *error)
{
        virDomainPtr found;
        vmsnap_domain_slot *slot;
        int r;

        /* The kept facts answer only what vmsnap_engine_lookup would: a UUID by the slot of
         * that UUID, a name that is no UUID by the slot of that name; anything else
         * (a UUID no slot knows, which may still be some domain's name) asks libvirt. */
        if (domain && *domain) {
                char uuid[VIR_UUID_STRING_BUFLEN];
                bool is_uuid = vmsnap_uuid_parse(domain, uuid);

                slot = find_fresh(engine, is_uuid ? uuid : NULL, domain, ret);
                if (slot) {
                        *slot_ret = slot;
                        return 0;
                }
        }
        r = vmsnap_engine_lookup(engine, domain, &found, error);
        if (r < 0)
                return r;
        r = facts_fetch(engine, found, ret, slot_ret, error);
        virDomainFree(found);
        return r;
}
