/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* store.h: the metadata store: one JSON document per domain,
 * <state_dir>/<domain-uuid>.json, written atomically. Serialization of the
 * model lives here and nowhere else. */
#pragma once

#include "model.h"
#include "vmsnap/vmsnap.h"

/* Loads the domain's document; -ENOENT (no error set) when there is none. */
int vmsnap_store_load(const char *state_dir, const char *uuid, vmsnap_domain_meta **ret,
                      vmsnap_error *error);
int vmsnap_store_save(const char *state_dir, const vmsnap_domain_meta *meta, vmsnap_error *error);
/* Removes the document; a missing one is fine. */
int vmsnap_store_remove(const char *state_dir, const char *uuid, vmsnap_error *error);

/* The UUIDs of every domain document in the state directory (<uuid>.json), unsorted;
 * the caller frees each string, then the array. A missing directory lists nothing. */
int vmsnap_store_list(const char *state_dir, char ***ret, size_t *n_ret, vmsnap_error *error);

/* Exposed for unit tests and for the intent journal. */
json_object *vmsnap_store_to_json(const vmsnap_domain_meta *meta);
int vmsnap_store_from_json(json_object *object, vmsnap_domain_meta **ret, vmsnap_error *error);
