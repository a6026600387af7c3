/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* engine.c: the engine object, its libvirt connection and per-domain slots,
 * and the life of an operation (begin: lock, load, recover, check; save;
 * end). What each operation does lives in its own file. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <libvirt/virterror.h>

#include "chain.h"
#include "collapse.h"
#include "config.h"
#include "engine.h"
#include "error.h"
#include "facts.h"
#include "failpoint.h"
#include "fileio.h"
#include "guard.h"
#include "journal.h"
#include "names.h"
#include "store.h"
#include "tree.h"

/* libvirt's event loop is one per process. The first watcher registers it, before it
 * opens its connection, and one thread runs it until the process exits. An engine that
 * only acts never registers it: a connection opened while the loop is registered tells
 * libvirtd that it answers keepalive pings, and libvirtd closes one whose pings go
 * unanswered after 30 s, so that the next call of a program without a running loop
 * dies of SIGPIPE. */
static pthread_once_t event_loop_once = PTHREAD_ONCE_INIT;
static int event_loop_status;

static void *event_loop_main(void *userdata)
{
        while (virEventRunDefaultImpl() >= 0)
                ;
        return NULL;
}

static void event_loop_start(void)
{
        pthread_attr_t attr;
        pthread_t thread;

        if (virEventRegisterDefaultImpl() < 0) {
                event_loop_status = -EIO;
                return;
        }
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&thread, &attr, event_loop_main, NULL) != 0)
                event_loop_status = -EAGAIN;
        pthread_attr_destroy(&attr);
}

/* Each callback and timer an engine has in the loop holds a reference on its watch until
 * libvirt calls this, from the loop's thread, once it can no longer run; the engine is
 * freed only after that. */
static void watch_release(void *opaque)
{
        vmsnap_engine *engine = opaque;

        pthread_mutex_lock(&engine->watch_lock);
        engine->watch_refs--;
        pthread_cond_broadcast(&engine->watch_released);
        pthread_mutex_unlock(&engine->watch_lock);
}

static void watch_hold(vmsnap_engine *engine)
{
        pthread_mutex_lock(&engine->watch_lock);
        engine->watch_refs++;
        pthread_mutex_unlock(&engine->watch_lock);
}

/* Waits (10 s at most: libvirt calls the release functions promptly) until nothing of
 * the loop refers to the engine any more. */
static void watch_wait_released(vmsnap_engine *engine)
{
        struct timespec deadline;

        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += 10;
        pthread_mutex_lock(&engine->watch_lock);
        while (engine->watch_refs > 0)
                if (pthread_cond_timedwait(&engine->watch_released, &engine->watch_lock, &deadline) != 0)
                        break;
        pthread_mutex_unlock(&engine->watch_lock);
}

static void ignore_libvirt_error(void *userdata, virErrorPtr error)
{
        /* libvirt prints every error to stderr by default; vmsnap reports them itself. */
}

static int libvirt_error(vmsnap_error *error, vmsnap_error_kind kind, const char *what)
{
        virErrorPtr last = virGetLastError();
        return vmsnap_error_set(error, -EIO, kind, "%s: %s", what,
                                last && last->message ? last->message : "unknown libvirt error");
}

static int unreachable_error(vmsnap_engine *engine, vmsnap_error *error)
{
        char what[1024];

        snprintf(what, sizeof(what), "libvirt at %s is not reachable", engine->uri);
        return libvirt_error(error, VMSNAP_ERROR_FAILED, what);
}

int vmsnap_engine_new(const char *uri, const char *state_dir, vmsnap_engine **ret, vmsnap_error *error)
{
        vmsnap_engine *engine;
        int r;

        vmsnap_error_clear(error);
        virSetErrorFunc(NULL, ignore_libvirt_error);
        if (virInitialize() < 0)
                return vmsnap_error_set(error, -EIO, VMSNAP_ERROR_FAILED,
                                        "libvirt could not be initialized");

        engine = calloc(1, sizeof(*engine));
        if (!engine)
                return vmsnap_error_set(error, -ENOMEM, VMSNAP_ERROR_FAILED, "out of memory");
        engine->uri = strdup(uri ? uri : VMSNAP_DEFAULT_URI);
        engine->state_dir = strdup(state_dir ? state_dir : VMSNAP_DEFAULT_STATE_DIR);
        pthread_mutex_init(&engine->slots_lock, NULL);
        pthread_mutex_init(&engine->connection_lock, NULL);
        pthread_mutex_init(&engine->pool_lock, NULL);
        pthread_mutex_init(&engine->watch_lock, NULL);
        pthread_mutex_init(&engine->log_lock, NULL);
        pthread_cond_init(&engine->watch_released, NULL);
        engine->keepalive_timer = -1;

        r = vmsnap_dir_ensure(engine->state_dir, error);
        if (r < 0)
                goto fail;

        engine->lifecycle_callback = -1;

        /* An engine without libvirt is still an engine: every call that needs libvirt fails
         * with a sentence naming the URI until it is reachable, and the first call after
         * that connects (vmsnapd owns its name and answers while libvirtd is down). */
        engine->connection = virConnectOpen(engine->uri);
        if (!engine->connection) {
                vmsnap_error unreachable = {0};
                unreachable_error(engine, &unreachable);
                vmsnap_engine_log(engine, "%s; connecting when it is", unreachable.message);
                atomic_store(&engine->recoveries_pending, true);
        } else {
                vmsnap_clone_recover(engine);
                vmsnap_purge_recover(engine);
        }
        *ret = engine;
        return 0;
fail:
        vmsnap_engine_free(engine);
        return r;
}

static void slot_free(vmsnap_domain_slot *slot)
{
        pthread_mutex_destroy(&slot->op_lock);
        pthread_mutex_destroy(&slot->data_lock);
        pthread_mutex_destroy(&slot->history_lock);
        vmsnap_domain_meta_free(vmsnap_slot_publish(slot, NULL));
        vmsnap_slot_drop_facts(slot);
        for (size_t i = 0; i < slot->n_clone_locks; i++)
                free(slot->clone_locked_ids[i]);
        free(slot->clone_locked_ids);
        free(slot);
}

void vmsnap_engine_free(vmsnap_engine *engine)
{
        if (!engine)
                return;
        if (engine->watching) {
                if (engine->keepalive_timer >= 0)
                        virEventRemoveTimeout(engine->keepalive_timer);
                pthread_mutex_lock(&engine->connection_lock);
                if (engine->connection && engine->lifecycle_callback >= 0)
                        virConnectDomainEventDeregisterAny(engine->connection, engine->lifecycle_callback);
                pthread_mutex_unlock(&engine->connection_lock);
                watch_wait_released(engine);
        }
        vmsnap_pool_free(engine->pool);
        pthread_mutex_destroy(&engine->pool_lock);
        for (size_t i = 0; i < engine->n_slots; i++)
                slot_free(engine->slots[i]);
        free(engine->slots);
        if (engine->connection)
                virConnectClose(engine->connection);
        pthread_mutex_destroy(&engine->slots_lock);
        pthread_mutex_destroy(&engine->connection_lock);
        pthread_mutex_destroy(&engine->watch_lock);
        pthread_mutex_destroy(&engine->log_lock);
        for (size_t i = 0; i < engine->n_early_log; i++)
                free(engine->early_log[i]);
        free(engine->early_log);
        pthread_cond_destroy(&engine->watch_released);
        free(engine->uri);
        free(engine->state_dir);
        free(engine->run_dir);
        free(engine->clone_targets);
        free(engine);
}

vmsnap_domain_slot *vmsnap_engine_slot(vmsnap_engine *engine, const char *uuid)
{
        vmsnap_domain_slot *slot = NULL;

        pthread_mutex_lock(&engine->slots_lock);
        for (size_t i = 0; i < engine->n_slots; i++)
                if (strcmp(engine->slots[i]->uuid, uuid) == 0) {
                        slot = engine->slots[i];
                        goto out;
                }
        slot = calloc(1, sizeof(*slot));
        vmsnap_domain_slot **slots = realloc(engine->slots, (engine->n_slots + 1) * sizeof(*slots));
        if (!slot || !slots)
                abort();
        snprintf(slot->uuid, sizeof(slot->uuid), "%s", uuid);
        pthread_mutex_init(&slot->op_lock, NULL);
        pthread_mutex_init(&slot->data_lock, NULL);
        pthread_mutex_init(&slot->history_lock, NULL);
        engine->slots = slots;
        engine->slots[engine->n_slots++] = slot;
out:
        pthread_mutex_unlock(&engine->slots_lock);
        return slot;
}

vmsnap_domain_meta *vmsnap_slot_publish(vmsnap_domain_slot *slot, vmsnap_domain_meta *meta)
{
        vmsnap_domain_meta *old = slot->meta;

        slot->meta = meta;
        vmsnap_tree_free(slot->tree);
        slot->tree = NULL;
        return old;
}

void vmsnap_engine_forget(vmsnap_engine *engine)
{
        pthread_mutex_lock(&engine->slots_lock);
        for (size_t i = 0; i < engine->n_slots; i++) {
                vmsnap_domain_slot *slot = engine->slots[i];
                pthread_mutex_lock(&slot->data_lock);
                vmsnap_domain_meta_free(vmsnap_slot_publish(slot, NULL));
                vmsnap_slot_drop_facts(slot);
                pthread_mutex_unlock(&slot->data_lock);
        }
        pthread_mutex_unlock(&engine->slots_lock);
}

int vmsnap_engine_lookup(vmsnap_engine *engine, const char *domain, virDomainPtr *ret, vmsnap_error *error)
{
        char uuid[VIR_UUID_STRING_BUFLEN];
        virDomainPtr found = NULL;

        if (!domain || !*domain)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "no domain given: name a domain by its name or UUID");
        virConnectPtr connection = vmsnap_engine_connection(engine, error);
        if (!connection)
                return error ? error->code : -EIO;
        /* The one rule for naming a domain: a UUID in any spelling is a UUID first; only
         * when no domain has it, a name. libvirt allows such names; vmsnap never makes one. */
        if (vmsnap_uuid_parse(domain, uuid))
                found = virDomainLookupByUUIDString(connection, uuid);
        if (!found)
                found = virDomainLookupByName(connection, domain);
        virConnectClose(connection);
        if (!found)
                return vmsnap_error_set(error, -ENOENT, VMSNAP_ERROR_NOT_FOUND,
                                        "no domain named \"%s\" is defined on %s", domain, engine->uri);
        *ret = found;
        return 0;
}

/* The one domain libvirt no longer defines whose kept metadata last named it name, or
 * -ENOENT. Several are ambiguous: only a UUID tells them apart. */
static int lookup_kept_name(vmsnap_engine *engine, virConnectPtr connection, const char *name,
                            char uuid_ret[VIR_UUID_STRING_BUFLEN], vmsnap_error *error)
{
        char **uuids = NULL, found[512] = "";
        size_t n = 0, matches = 0;
        int r;

        r = vmsnap_store_list(engine->state_dir, &uuids, &n, error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                vmsnap_domain_meta *meta = NULL;
                virDomainPtr defined;

                if (vmsnap_store_load(engine->state_dir, uuids[i], &meta, NULL) == 0 && meta->name &&
                    strcmp(meta->name, name) == 0) {
                        defined = virDomainLookupByUUIDString(connection, uuids[i]);
                        if (defined)
                                virDomainFree(defined);
                        else {
                                snprintf(uuid_ret, VIR_UUID_STRING_BUFLEN, "%s", uuids[i]);
                                strncat(found, matches ? ", " : "", sizeof(found) - strlen(found) - 1);
                                strncat(found, uuids[i], sizeof(found) - strlen(found) - 1);
                                matches++;
                        }
                }
                vmsnap_domain_meta_free(meta);
                free(uuids[i]);
        }
        free(uuids);
        if (matches > 1)
                return vmsnap_error_set(
                        error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                        "%zu domains that libvirt no longer defines were last named \"%s\" (%s); "
                        "name one by its UUID",
                        matches, name, found);
        return matches == 1 ? 0 : -ENOENT;
}

int vmsnap_engine_lookup_kept(vmsnap_engine *engine, const char *domain,
                              char uuid_ret[VIR_UUID_STRING_BUFLEN], virDomainPtr *ret, vmsnap_error *error)
{
        char uuid[VIR_UUID_STRING_BUFLEN];
        vmsnap_domain_meta *meta = NULL;
        virDomainPtr found = NULL;
        int r = -ENOENT;

        if (!domain || !*domain)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "no domain given: name a domain by its name or UUID");
        virConnectPtr connection = vmsnap_engine_connection(engine, error);
        if (!connection)
                return error ? error->code : -EIO;
        /* vmsnap_engine_lookup's rule, each step asking libvirt first and the store second. */
        if (vmsnap_uuid_parse(domain, uuid)) {
                found = virDomainLookupByUUIDString(connection, uuid);
                if (!found && vmsnap_store_load(engine->state_dir, uuid, &meta, NULL) == 0) {
                        vmsnap_domain_meta_free(meta);
                        r = 0;
                }
        }
        if (!found && r < 0) {
                found = virDomainLookupByName(connection, domain);
                if (!found)
                        r = lookup_kept_name(engine, connection, domain, uuid, error);
        }
        virConnectClose(connection);
        if (found && virDomainGetUUIDString(found, uuid) < 0) {
                virDomainFree(found);
                return libvirt_error(error, VMSNAP_ERROR_FAILED, "cannot read the domain's UUID");
        }
        if (!found && r == -ENOENT)
                return vmsnap_error_set(error, -ENOENT, VMSNAP_ERROR_NOT_FOUND,
                                        "no domain named \"%s\" is defined on %s, and vmsnap keeps no "
                                        "metadata of a domain of that name or UUID",
                                        domain, engine->uri);
        if (!found && r < 0)
                return r;
        memcpy(uuid_ret, uuid, VIR_UUID_STRING_BUFLEN);
        *ret = found;
        return 0;
}

const char *vmsnap_domain_state_name(virDomainPtr domain)
{
        int state, reason;

        if (virDomainGetState(domain, &state, &reason, 0) < 0)
                return "other";
        switch (state) {
        case VIR_DOMAIN_RUNNING:
        case VIR_DOMAIN_BLOCKED:
                return "running";
        case VIR_DOMAIN_PAUSED:
        case VIR_DOMAIN_PMSUSPENDED:
                return "paused";
        case VIR_DOMAIN_SHUTOFF:
        case VIR_DOMAIN_CRASHED:
                return "shutoff";
        case VIR_DOMAIN_SHUTDOWN:
                return "running";
        default:
                return "other";
        }
}

/* ---- the connection ---- */

static int on_lifecycle(virConnectPtr connection, virDomainPtr domain, int event, int detail, void *opaque);

/* With connection_lock held: subscribes the watcher on the current connection. */
static int subscribe_events(vmsnap_engine *engine)
{
        engine->lifecycle_callback = virConnectDomainEventRegisterAny(
                engine->connection, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), engine, watch_release);
        if (engine->lifecycle_callback < 0)
                return -EIO;
        watch_hold(engine);
        return 0;
}

/* After a reconnect nothing is known of what happened meanwhile: every domain may have changed. */
static void notify_every_domain(vmsnap_engine *engine, virConnectPtr connection)
{
        virDomainPtr *domains = NULL;
        int n = virConnectListAllDomains(connection, &domains, 0);

        for (int i = 0; i < n; i++) {
                char uuid[VIR_UUID_STRING_BUFLEN];
                if (virDomainGetUUIDString(domains[i], uuid) == 0)
                        vmsnap_engine_notify(engine, uuid);
                virDomainFree(domains[i]);
        }
        free(domains);
}

virConnectPtr vmsnap_engine_connection(vmsnap_engine *engine, vmsnap_error *error)
{
        virConnectPtr connection = NULL;
        bool reconnected = false;

        pthread_mutex_lock(&engine->connection_lock);
        if (!engine->connection || virConnectIsAlive(engine->connection) != 1) {
                /* libvirtd went away (restarted, upgraded) or was never there: open a new
                 * connection. Operations that still hold the old one fail with libvirt's
                 * error; later ones use the new one. */
                virConnectPtr fresh = virConnectOpen(engine->uri);
                if (fresh) {
                        if (engine->connection) {
                                if (engine->lifecycle_callback >= 0)
                                        virConnectDomainEventDeregisterAny(engine->connection,
                                                                           engine->lifecycle_callback);
                                virConnectClose(engine->connection);
                        }
                        engine->connection = fresh;
                        vmsnap_engine_drop_all_facts(engine);
                        reconnected = engine->changed && subscribe_events(engine) == 0;
                }
        }
        if (engine->connection && virConnectIsAlive(engine->connection) == 1)
                connection = engine->connection;
        if (connection)
                virConnectRef(connection);
        else
                unreachable_error(engine, error);
        pthread_mutex_unlock(&engine->connection_lock);
        /* Once, the first time libvirt is there: what the start would have recovered. */
        if (connection && atomic_exchange(&engine->recoveries_pending, false)) {
                vmsnap_engine_log(engine, "libvirt at %s is reachable now", engine->uri);
                vmsnap_clone_recover(engine);
                vmsnap_purge_recover(engine);
        }
        if (connection && reconnected)
                notify_every_domain(engine, connection);
        return connection;
}

/* Every few seconds while watching: a lost connection is reopened, so that events flow again. */
static void keep_connection(int timer, void *opaque)
{
        virConnectPtr connection = vmsnap_engine_connection(opaque, NULL);
        if (connection)
                virConnectClose(connection);
}

/* ---- watching ---- */

void vmsnap_engine_notify(vmsnap_engine *engine, const char *uuid)
{
        if (engine->changed)
                engine->changed(engine->changed_userdata, uuid);
}

static int on_lifecycle(virConnectPtr connection, virDomainPtr domain, int event, int detail, void *opaque)
{
        vmsnap_engine *engine = opaque;
        char uuid[VIR_UUID_STRING_BUFLEN];

        if (virDomainGetUUIDString(domain, uuid) < 0)
                return 0;
        vmsnap_domain_slot *slot = vmsnap_engine_slot(engine, uuid);
        pthread_mutex_lock(&slot->data_lock);
        vmsnap_slot_drop_facts(slot);
        pthread_mutex_unlock(&slot->data_lock);
        if (event == VIR_DOMAIN_EVENT_UNDEFINED) {
                /* Undefined, or the first half of a rename (UNDEFINED/RENAMED, then DEFINED): the
                 * tree is as durable as the disks. Its document stays in the state directory, and
                 * a define with the same UUID loads it again, checked against the disks as at any
                 * load; only what is published is dropped. */
                pthread_mutex_lock(&slot->data_lock);
                vmsnap_domain_meta *old = vmsnap_slot_publish(slot, NULL);
                pthread_mutex_unlock(&slot->data_lock);
                vmsnap_domain_meta_free(old);
        } else if (event == VIR_DOMAIN_EVENT_DEFINED) {
                pthread_mutex_lock(&slot->data_lock);
                if (slot->meta &&
                    strcmp(slot->meta->name ? slot->meta->name : "", virDomainGetName(domain)) != 0) {
                        free(slot->meta->name);
                        slot->meta->name = strdup(virDomainGetName(domain));
                }
                pthread_mutex_unlock(&slot->data_lock);
        }
        vmsnap_engine_notify(engine, uuid);
        return 0;
}

int vmsnap_engine_watch(vmsnap_engine *engine, vmsnap_change_fn changed, void *userdata, vmsnap_error *error)
{
        vmsnap_error_clear(error);
        if (engine->watching)
                return vmsnap_error_set(error, -EBUSY, VMSNAP_ERROR_BUSY,
                                        "the engine already has a watcher");
        pthread_once(&event_loop_once, event_loop_start);
        if (event_loop_status < 0)
                return vmsnap_error_set(error, event_loop_status, VMSNAP_ERROR_FAILED,
                                        "libvirt's event loop could not be started");

        /* The connection opened before the loop existed delivers no events: replace it.
         * Without libvirt the watcher waits: the keepalive timer below connects and
         * subscribes as soon as libvirt is reachable. */
        pthread_mutex_lock(&engine->connection_lock);
        virConnectPtr attached = virConnectOpen(engine->uri);
        int r = 0;
        engine->changed = changed;
        engine->changed_userdata = userdata;
        if (attached) {
                if (engine->connection)
                        virConnectClose(engine->connection);
                engine->connection = attached;
                r = subscribe_events(engine);
        }
        pthread_mutex_unlock(&engine->connection_lock);
        if (r < 0)
                return libvirt_error(error, VMSNAP_ERROR_FAILED,
                                     "cannot subscribe to libvirt's domain events");
        engine->keepalive_timer = virEventAddTimeout(5000, keep_connection, engine, watch_release);
        if (engine->keepalive_timer >= 0)
                watch_hold(engine);
        engine->watching = true;
        return 0;
}

/* ---- failpoints (tests) ---- */

static atomic_uint failpoint_countdown;
static atomic_uint failpoint_count;

void vmsnap_failpoint_arm(unsigned n)
{
        atomic_store(&failpoint_countdown, n);
        atomic_store(&failpoint_count, 0);
}

unsigned vmsnap_failpoint_reached(void)
{
        return atomic_load(&failpoint_count);
}

int vmsnap_op_failpoint(vmsnap_op *op, const char *step)
{
        unsigned left;

        atomic_fetch_add(&failpoint_count, 1);
        left = atomic_load(&failpoint_countdown);
        if (left == 0)
                return 0;
        if (left > 1) {
                atomic_store(&failpoint_countdown, left - 1);
                return 0;
        }
        atomic_store(&failpoint_countdown, 0);
        op->crashed = true;
        return vmsnap_error_set(op->error, -EINTR, VMSNAP_ERROR_FAILED, "simulated crash at %s", step);
}

/* ---- operations ---- */

int vmsnap_engine_slot_load(vmsnap_engine *engine, vmsnap_domain_slot *slot, virDomainPtr domain,
                            vmsnap_error *error)
{
        vmsnap_domain_meta *meta = NULL;
        int r;

        pthread_mutex_lock(&slot->data_lock);
        bool loaded = slot->meta != NULL;
        pthread_mutex_unlock(&slot->data_lock);
        if (loaded)
                return 0;

        r = vmsnap_store_load(engine->state_dir, slot->uuid, &meta, error);
        if (r == -ENOENT)
                meta = vmsnap_domain_meta_new(slot->uuid, virDomainGetName(domain));
        else if (r < 0)
                return r;
        pthread_mutex_lock(&slot->data_lock);
        vmsnap_domain_meta *old = vmsnap_slot_publish(slot, meta);
        pthread_mutex_unlock(&slot->data_lock);
        vmsnap_domain_meta_free(old);
        return 0;
}

int vmsnap_op_reload_xml(vmsnap_op *op)
{
        char *xml;
        int r;

        xml = virDomainGetXMLDesc(op->domain, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE);
        if (!xml)
                return libvirt_error(op->error, VMSNAP_ERROR_FAILED,
                                     "cannot read the domain's configuration");
        vmsnap_xml_disks_free(op->disks, op->n_disks);
        op->disks = NULL;
        op->n_disks = 0;
        free(op->xml);
        op->xml = xml;
        r = vmsnap_xml_disks(xml, &op->disks, &op->n_disks, op->error);
        if (r < 0)
                return r;
        free(op->name);
        op->name = strdup(virDomainGetName(op->domain));
        return 0;
}

int vmsnap_op_define(vmsnap_op *op, const char *xml)
{
        if (vmsnap_failpoint_dead())
                return vmsnap_failpoint_dead_error(op->error);
        virDomainPtr defined = virDomainDefineXML(virDomainGetConnect(op->domain), xml);
        if (!defined)
                return libvirt_error(op->error, VMSNAP_ERROR_FAILED,
                                     "libvirt refused the new configuration");
        virDomainFree(defined);
        return vmsnap_op_reload_xml(op);
}

/* The rest of vmsnap_op_begin for a domain libvirt no longer defines: its metadata from
 * the store (a purge may have removed it since the lookup), and the recovery of an
 * unfinished purge; any other unfinished operation needs the domain and waits for it. */
static int begin_kept(vmsnap_op *op, const char *domain)
{
        json_object *operation;
        int r;

        r = vmsnap_store_load(op->engine->state_dir, op->slot->uuid, &op->meta, op->error);
        if (r == -ENOENT)
                return vmsnap_error_set(op->error, -ENOENT, VMSNAP_ERROR_NOT_FOUND,
                                        "no domain named \"%s\" is defined on %s, and vmsnap keeps no "
                                        "metadata of a domain of that name or UUID",
                                        domain, op->engine->uri);
        if (r < 0)
                return r;
        op->name = strdup(op->meta->name && *op->meta->name ? op->meta->name : op->slot->uuid);
        if (!op->name)
                abort();
        if (!op->meta->intent || !json_object_object_get_ex(op->meta->intent, "operation", &operation) ||
            strcmp(json_object_get_string(operation), "purge") != 0)
                return 0;
        op->recovering = true;
        r = vmsnap_journal_recover(op);
        op->recovering = false;
        if (r < 0) {
                vmsnap_engine_log(op->engine,
                                  "domain %s: the interrupted operation could not be completed: %s",
                                  op->name, op->error->message);
                return vmsnap_error_prefix(op->error,
                                           "domain %s has an unfinished purge that could not be completed",
                                           op->name);
        }
        vmsnap_engine_log(op->engine, "domain %s: the interrupted operation is completed", op->name);
        return 0;
}

int vmsnap_op_begin(vmsnap_engine *engine, const char *domain, unsigned flags, const vmsnap_hooks *hooks,
                    vmsnap_op **ret, vmsnap_error *error)
{
        char uuid[VIR_UUID_STRING_BUFLEN];
        vmsnap_op *op;
        int r;

        vmsnap_error_clear(error);
        op = calloc(1, sizeof(*op));
        if (!op)
                return vmsnap_error_set(error, -ENOMEM, VMSNAP_ERROR_FAILED, "out of memory");
        op->engine = engine;
        op->hooks = hooks;
        op->error = error;

        if (flags & VMSNAP_OP_UNDEFINED_OK)
                r = vmsnap_engine_lookup_kept(engine, domain, uuid, &op->domain, error);
        else {
                r = vmsnap_engine_lookup(engine, domain, &op->domain, error);
                if (r == 0 && virDomainGetUUIDString(op->domain, uuid) < 0)
                        r = libvirt_error(error, VMSNAP_ERROR_FAILED, "cannot read the domain's UUID");
        }
        if (r < 0)
                goto fail;
        op->slot = vmsnap_engine_slot(engine, uuid);
        pthread_mutex_lock(&op->slot->op_lock);
        if (!op->domain) {
                r = begin_kept(op, domain);
                if (r < 0)
                        goto fail;
                *ret = op;
                return 0;
        }

        r = vmsnap_engine_slot_load(engine, op->slot, op->domain, error);
        if (r < 0)
                goto fail;
        pthread_mutex_lock(&op->slot->data_lock);
        op->meta = vmsnap_domain_meta_copy(op->slot->meta);
        pthread_mutex_unlock(&op->slot->data_lock);

        r = vmsnap_op_reload_xml(op);
        if (r < 0)
                goto fail;
        if (op->meta->name == NULL || strcmp(op->meta->name, op->name) != 0) {
                free(op->meta->name);
                op->meta->name = strdup(op->name);
        }

        if (op->meta->intent) {
                op->recovering = true;
                r = vmsnap_journal_recover(op);
                op->recovering = false;
                if (r < 0)
                        vmsnap_engine_log(engine,
                                          "domain %s: the interrupted operation could not be completed: %s",
                                          op->name, error->message);
                else
                        vmsnap_engine_log(engine, "domain %s: the interrupted operation is completed",
                                          op->name);
                if (r < 0) {
                        vmsnap_error_prefix(error,
                                            "domain %s has an unfinished operation that could not be "
                                            "completed",
                                            op->name);
                        goto fail;
                }
        }

        if ((flags & VMSNAP_OP_SHUT_OFF) && virDomainIsActive(op->domain) == 1) {
                r = vmsnap_error_set(error, -EBUSY, VMSNAP_ERROR_DOMAIN_RUNNING,
                                     "domain %s is running; shut it down first (virsh shutdown %s)",
                                     op->name, op->name);
                goto fail;
        }
        if ((flags & VMSNAP_OP_NO_PREVIEW) && op->meta->preview) {
                vmsnap_snapshot *c =
                        vmsnap_domain_meta_find_id(op->meta, op->meta->preview->config_snapshot_id);
                r = vmsnap_error_set(
                        error, -EBUSY, VMSNAP_ERROR_IN_PREVIEW,
                        "domain %s is previewing snapshot \"%s\"; commit or undo the preview first",
                        op->name, c ? c->name : "?");
                goto fail;
        }
        if ((flags & VMSNAP_OP_IN_PREVIEW) && !op->meta->preview) {
                r = vmsnap_error_set(
                        error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                        "domain %s is not previewing a snapshot; there is nothing to commit or undo",
                        op->name);
                goto fail;
        }
        if (flags & VMSNAP_OP_NO_FOREIGN_SNAPSHOTS) {
                r = vmsnap_guard_no_foreign_snapshots(op);
                if (r < 0)
                        goto fail;
        }
        *ret = op;
        return 0;
fail:
        vmsnap_op_end(op);
        return r;
}

int vmsnap_op_save(vmsnap_op *op)
{
        int r = vmsnap_store_save(op->engine->state_dir, op->meta, op->error);
        if (r < 0)
                return r;
        op->saved = true;
        vmsnap_domain_meta *published = vmsnap_domain_meta_copy(op->meta);
        pthread_mutex_lock(&op->slot->data_lock);
        vmsnap_domain_meta *old = vmsnap_slot_publish(op->slot, published);
        pthread_mutex_unlock(&op->slot->data_lock);
        vmsnap_domain_meta_free(old);
        return 0;
}

void vmsnap_op_end(vmsnap_op *op)
{
        if (!op)
                return;
        if (op->slot) {
                vmsnap_domain_meta *dropped = NULL;
                pthread_mutex_lock(&op->slot->data_lock);
                /* As after a real crash, the next operation starts from the store. */
                if (op->crashed)
                        dropped = vmsnap_slot_publish(op->slot, NULL);
                /* The operation may have changed the configuration or started the domain. */
                vmsnap_slot_drop_facts(op->slot);
                pthread_mutex_unlock(&op->slot->data_lock);
                vmsnap_domain_meta_free(dropped);
                pthread_mutex_unlock(&op->slot->op_lock);
                if (op->saved)
                        vmsnap_engine_notify(op->engine, op->slot->uuid);
        }
        if (op->domain)
                virDomainFree(op->domain);
        vmsnap_xml_disks_free(op->disks, op->n_disks);
        for (size_t i = 0; i < op->n_foreign_images; i++)
                free(op->foreign_images[i]);
        free(op->foreign_images);
        vmsnap_domain_meta_free(op->meta);
        free(op->xml);
        free(op->name);
        free(op);
}

void vmsnap_op_progress(vmsnap_op *op, uint64_t done, uint64_t total)
{
        if (op->hooks && op->hooks->progress)
                op->hooks->progress(op->hooks->userdata, done, total);
}

#define EARLY_LOG_MAX 64

static void engine_log_text(vmsnap_engine *engine, const char *text)
{
        pthread_mutex_lock(&engine->log_lock);
        if (engine->log)
                engine->log(engine->log_userdata, text);
        else if (engine->n_early_log < EARLY_LOG_MAX) {
                char **grown = realloc(engine->early_log, (engine->n_early_log + 1) * sizeof(char *));
                char *copy = strdup(text);
                if (!grown || !copy)
                        abort();
                engine->early_log = grown;
                engine->early_log[engine->n_early_log++] = copy;
        }
        pthread_mutex_unlock(&engine->log_lock);
}

void vmsnap_engine_log(vmsnap_engine *engine, const char *format, ...)
{
        char text[2048];
        va_list ap;

        va_start(ap, format);
        vsnprintf(text, sizeof(text), format, ap);
        va_end(ap);
        engine_log_text(engine, text);
}

void vmsnap_engine_set_log(vmsnap_engine *engine, vmsnap_log_fn log, void *userdata)
{
        pthread_mutex_lock(&engine->log_lock);
        engine->log = log;
        engine->log_userdata = userdata;
        for (size_t i = 0; i < engine->n_early_log; i++) {
                if (log)
                        log(userdata, engine->early_log[i]);
                free(engine->early_log[i]);
        }
        free(engine->early_log);
        engine->early_log = NULL;
        engine->n_early_log = 0;
        pthread_mutex_unlock(&engine->log_lock);
}

void vmsnap_op_message(vmsnap_op *op, const char *format, ...)
{
        char text[2048];
        va_list ap;

        if (!op->recovering && (!op->hooks || !op->hooks->message))
                return;
        va_start(ap, format);
        vsnprintf(text, sizeof(text), format, ap);
        va_end(ap);
        if (op->recovering)
                engine_log_text(op->engine, text);
        if (op->hooks && op->hooks->message)
                op->hooks->message(op->hooks->userdata, text);
}

bool vmsnap_op_canceled(vmsnap_op *op)
{
        return op->hooks && op->hooks->is_canceled && op->hooks->is_canceled(op->hooks->userdata);
}

int vmsnap_op_find_snapshot(vmsnap_op *op, const char *snapshot, vmsnap_snapshot **ret)
{
        vmsnap_snapshot *found;

        if (!snapshot || !*snapshot)
                return vmsnap_error_set(op->error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "no snapshot given: name a snapshot of %s by its name or id",
                                        op->name);
        found = vmsnap_domain_meta_find(op->meta, snapshot);
        if (!found)
                return vmsnap_error_set(op->error, -ENOENT, VMSNAP_ERROR_NOT_FOUND,
                                        "domain %s has no snapshot named \"%s\"", op->name, snapshot);
        *ret = found;
        return 0;
}

void vmsnap_active_disks_free(vmsnap_active_disk *disks, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(disks[i].target);
                free(disks[i].source);
                free(disks[i].format);
        }
        free(disks);
}

int vmsnap_op_active_disks(vmsnap_op *op, vmsnap_active_disk **ret, size_t *n_ret)
{
        vmsnap_active_disk *disks = calloc(op->n_disks + 1, sizeof(*disks));
        size_t n = 0;

        if (!disks)
                return vmsnap_error_set(op->error, -ENOMEM, VMSNAP_ERROR_FAILED, "out of memory");
        for (size_t i = 0; i < op->n_disks; i++) {
                const vmsnap_xml_disk *d = &op->disks[i];
                char *canonical = NULL;

                if (!d->source || strcmp(d->type, "file") != 0 || strcmp(d->device, "disk") != 0)
                        continue;
                if (vmsnap_path_canonical(d->source, &canonical, NULL) < 0)
                        canonical = strdup(d->source);
                disks[n].target = strdup(d->target);
                disks[n].source = canonical;
                disks[n].format = strdup(d->format ? d->format : "raw");
                n++;
        }
        *ret = disks;
        *n_ret = n;
        return 0;
}

struct collect_ctx {
        char ***paths;
        size_t *n;
};

static int collect_chain_file(const char *path, const vmsnap_image_header *header, unsigned depth,
                              void *userdata)
{
        struct collect_ctx *ctx = userdata;
        char *canonical = NULL;
        char **grown;

        if (vmsnap_path_canonical(path, &canonical, NULL) < 0)
                return 0;
        grown = realloc(*ctx->paths, (*ctx->n + 1) * sizeof(char *));
        if (!grown) {
                free(canonical);
                return -ENOMEM;
        }
        *ctx->paths = grown;
        (*ctx->paths)[(*ctx->n)++] = canonical;
        return 0;
}

static int load_foreign_images(vmsnap_op *op)
{
        virDomainPtr *domains = NULL;
        int n;

        /* A domain libvirt no longer defines (a purge) has no handle to ask through. */
        virConnectPtr connection = op->domain ? virDomainGetConnect(op->domain)
                                              : vmsnap_engine_connection(op->engine, op->error);
        if (connection && op->domain)
                virConnectRef(connection);
        if (!connection)
                return op->error ? op->error->code : -EIO;
        n = virConnectListAllDomains(connection, &domains, 0);
        virConnectClose(connection);
        if (n < 0)
                return libvirt_error(op->error, VMSNAP_ERROR_FAILED, "cannot list the defined domains");
        for (int i = 0; i < n; i++) {
                char uuid[VIR_UUID_STRING_BUFLEN];
                vmsnap_xml_disk *disks = NULL;
                size_t n_disks = 0;
                char *xml;

                if (virDomainGetUUIDString(domains[i], uuid) == 0 && strcmp(uuid, op->slot->uuid) == 0)
                        goto next;
                xml = virDomainGetXMLDesc(domains[i], VIR_DOMAIN_XML_INACTIVE);
                if (xml && vmsnap_xml_disks(xml, &disks, &n_disks, NULL) == 0) {
                        for (size_t j = 0; j < n_disks; j++) {
                                struct collect_ctx ctx = {&op->foreign_images, &op->n_foreign_images};
                                vmsnap_error ignored;
                                if (!disks[j].source || strcmp(disks[j].type, "file") != 0)
                                        continue;
                                /* A broken chain of another domain still protects the files we can reach. */
                                collect_chain_file(disks[j].source, NULL, 0, &ctx);
                                vmsnap_chain_walk(disks[j].source, collect_chain_file, &ctx, &ignored);
                        }
                        vmsnap_xml_disks_free(disks, n_disks);
                }
                free(xml);
        next:
                virDomainFree(domains[i]);
        }
        free(domains);
        op->foreign_loaded = true;
        return 0;
}

int vmsnap_op_used_elsewhere(vmsnap_op *op, const char *path, bool *ret)
{
        char *canonical = NULL;
        int r;

        if (!op->foreign_loaded) {
                r = load_foreign_images(op);
                if (r < 0)
                        return r;
        }
        if (vmsnap_path_canonical(path, &canonical, NULL) < 0)
                canonical = strdup(path);
        *ret = false;
        for (size_t i = 0; i < op->n_foreign_images; i++)
                if (strcmp(op->foreign_images[i], canonical) == 0) {
                        *ret = true;
                        break;
                }
        free(canonical);
        return 0;
}
