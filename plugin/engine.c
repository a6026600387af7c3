/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* engine.c: the engine object, its libvirt connection, its per-domain slots, its
 * log and its worker pool. The life of an operation lives in begin.c and op.c; what
 * each operation does lives in its own file. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <libvirt/virterror.h>

#include "config.h"
#include "engine.h"
#include "error.h"
#include "failpoint.h"
#include "fileio.h"
#include "pool.h"
#include "names.h"
#include "store.h"
#include "tree.h"
#include "undefined.h"

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

int vmsnap_libvirt_error(vmsnap_error *error, vmsnap_error_kind kind, const char *what)
{
        virErrorPtr last = virGetLastError();
        return vmsnap_error_set(error, -EIO, kind, "%s: %s", what,
                                last && last->message ? last->message : "unknown libvirt error");
}

static int unreachable_error(vmsnap_engine *engine, vmsnap_error *error)
{
        char what[1024];

        snprintf(what, sizeof(what), "libvirt at %s is not reachable", engine->uri);
        return vmsnap_libvirt_error(error, VMSNAP_ERROR_FAILED, what);
}

int vmsnap_engine_open(const char *uri, const char *state_dir, vmsnap_engine_recover_fn recover,
                       vmsnap_engine **ret, vmsnap_error *error)
{
        vmsnap_engine *engine;
        int r;

        vmsnap_error_clear(error);
        virSetErrorFunc(NULL, ignore_libvirt_error);
        if (virInitialize() < 0)
                return vmsnap_error_set(error, -EIO, VMSNAP_ERROR_FAILED,
                                        "libvirt could not be initialized");

        engine = xcalloc(1, sizeof(*engine));
        engine->uri = xstrdup(uri ? uri : VMSNAP_DEFAULT_URI);
        engine->state_dir = xstrdup(state_dir ? state_dir : VMSNAP_DEFAULT_STATE_DIR);
        pthread_mutex_init(&engine->slots_lock, NULL);
        pthread_mutex_init(&engine->connection_lock, NULL);
        pthread_mutex_init(&engine->pool_lock, NULL);
        pthread_mutex_init(&engine->watch_lock, NULL);
        pthread_mutex_init(&engine->log_lock, NULL);
        engine->undefined = vmsnap_undefined_cache_new();
        pthread_cond_init(&engine->watch_released, NULL);
        engine->keepalive_timer = -1;
        engine->recover = recover;

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
        } else if (engine->recover)
                engine->recover(engine);
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
        if (slot->facts)
                slot->facts_free(slot->facts);
        for (size_t i = 0; i < slot->n_clone_locks; i++)
                free(slot->clone_locked_ids[i]);
        free(slot->clone_locked_ids);
        strv_free(slot->live_files);
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
        vmsnap_undefined_cache_free(engine->undefined);
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
        slot = xcalloc(1, sizeof(*slot));
        vmsnap_domain_slot **slots = xreallocarray(engine->slots, engine->n_slots + 1, sizeof(*slots));
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
        vmsnap_slot_files_changed(slot);
        return old;
}

void vmsnap_slot_files_changed(vmsnap_domain_slot *slot)
{
        slot->files_epoch++;
        slot->frozen_known = false;
}

void vmsnap_slot_domain_changed(vmsnap_domain_slot *slot)
{
        slot->domain_changes++;
}

unsigned vmsnap_engine_connection_epoch(vmsnap_engine *engine)
{
        return __atomic_load_n(&engine->connection_epoch, __ATOMIC_ACQUIRE);
}

void vmsnap_engine_forget(vmsnap_engine *engine)
{
        pthread_mutex_lock(&engine->slots_lock);
        for (size_t i = 0; i < engine->n_slots; i++) {
                vmsnap_domain_slot *slot = engine->slots[i];
                pthread_mutex_lock(&slot->data_lock);
                vmsnap_domain_meta_free(vmsnap_slot_publish(slot, NULL));
                vmsnap_slot_domain_changed(slot);
                pthread_mutex_unlock(&slot->data_lock);
        }
        pthread_mutex_unlock(&engine->slots_lock);
}

/* The connection to look a domain up on, once domain names one; NULL with the error's code
 * returned otherwise. */
static int lookup_connection(vmsnap_engine *engine, const char *domain, virConnectPtr *ret,
                             vmsnap_error *error)
{
        *ret = NULL;
        if (!domain || !*domain)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "no domain given: name a domain by its name or UUID");
        *ret = vmsnap_engine_connection(engine, error);
        if (!*ret)
                return error ? error->code : -EIO;
        return 0;
}

int vmsnap_engine_lookup(vmsnap_engine *engine, const char *domain, virDomainPtr *ret, vmsnap_error *error)
{
        char uuid[VIR_UUID_STRING_BUFLEN];
        virDomainPtr found = NULL;
        virConnectPtr connection;
        int r = lookup_connection(engine, domain, &connection, error);

        if (!connection)
                return r;
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
        virConnectPtr connection;
        int r = lookup_connection(engine, domain, &connection, error);

        if (!connection)
                return r;
        r = -ENOENT;
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
                return vmsnap_libvirt_error(error, VMSNAP_ERROR_FAILED, "cannot read the domain's UUID");
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
                        __atomic_add_fetch(&engine->connection_epoch, 1, __ATOMIC_RELEASE);
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
                if (engine->recover)
                        engine->recover(engine);
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
        vmsnap_slot_domain_changed(slot);
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
                        slot->meta->name = xstrdup(virDomainGetName(domain));
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
                return vmsnap_libvirt_error(error, VMSNAP_ERROR_FAILED,
                                            "cannot subscribe to libvirt's domain events");
        engine->keepalive_timer = virEventAddTimeout(5000, keep_connection, engine, watch_release);
        if (engine->keepalive_timer >= 0)
                watch_hold(engine);
        engine->watching = true;
        return 0;
}

/* ---- the worker pool ---- */

vmsnap_pool *vmsnap_engine_pool(vmsnap_engine *engine, vmsnap_error *error)
{
        pthread_mutex_lock(&engine->pool_lock);
        if (!engine->pool && vmsnap_pool_new(engine->workers, &engine->pool, error) < 0)
                engine->pool = NULL;
        vmsnap_pool *pool = engine->pool;
        pthread_mutex_unlock(&engine->pool_lock);
        return pool;
}

int vmsnap_engine_set_workers(vmsnap_engine *engine, unsigned workers, vmsnap_error *error)
{
        pthread_mutex_lock(&engine->pool_lock);
        bool started = engine->pool != NULL;
        if (!started)
                engine->workers = workers;
        pthread_mutex_unlock(&engine->pool_lock);
        if (started)
                return vmsnap_error_set(
                        error, -EBUSY, VMSNAP_ERROR_BUSY,
                        "the worker pool is already running; set the worker count before the "
                        "first clone");
        return 0;
}

int vmsnap_engine_set_rbd_lease(vmsnap_engine *engine, unsigned seconds, vmsnap_error *error)
{
        if (seconds < 2 || seconds > 3600)
                return vmsnap_error_set(
                        error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                        "a lease on a domain tree in a cluster lasts 2 to 3600 seconds, not %u", seconds);
        engine->rbd_lease_seconds = seconds;
        return 0;
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

#define EARLY_LOG_MAX 64

static void engine_log_text(vmsnap_engine *engine, const char *text)
{
        pthread_mutex_lock(&engine->log_lock);
        if (engine->log)
                engine->log(engine->log_userdata, text);
        else if (engine->n_early_log < EARLY_LOG_MAX) {
                engine->early_log =
                        xreallocarray(engine->early_log, engine->n_early_log + 1, sizeof(char *));
                engine->early_log[engine->n_early_log++] = xstrdup(text);
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
