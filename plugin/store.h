/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* store.h: the metadata store: one JSON document per domain,
 * <state_dir>/<domain-uuid>.json, written atomically. Reading the model back
 * lives here and nowhere else; writing it out is document.h's.
 *
 * A save writes the document whole only now and then. Otherwise it appends one line to
 * <state_dir>/<domain-uuid>.changes.json, the change log, and flushes it: what changed
 * since the generation before (snapshots put or removed, the owned files added or removed,
 * the small fields whole), naming the document it builds on by generation and CRC-32. A
 * load reads the document and replays the lines that build on it, one generation after
 * another. The document is written whole again (and the log removed) when the log is as
 * large as it, when this process did not write the generation before itself (a new
 * process, a write that failed), when the files are not as it left them, or when the
 * snapshots changed places; so a change costs what it changed, and the log's size what
 * one document costs. "The document" below means the document with its log.
 *
 * The intent of an unfinished operation (meta->intent, journal.h) is kept beside the
 * document, in <state_dir>/<domain-uuid>.journal.json: {"generation", "intent",
 * "previous"}. It changes at every step of an operation while the model changes once,
 * so a step writes that small file and not the whole document, whose cost grows with
 * the tree. The document counts its writes ("generation"); an intent is in force while
 * the document is at the generation the journal names. A write of the document writes
 * the journal first, naming the coming generation and keeping as "previous" the intent
 * in force until then: a crash between the two leaves the document one generation
 * behind and that previous intent in force. So the model and its intent still change
 * together as if in one atomic write, which the commit point of an operation needs. A
 * journal of an older generation is left from before and says nothing. Documents of
 * earlier versions kept the intent inside; it is read from there (generation 0) and
 * moves to the journal at the next write. */
#pragma once

#include "model.h"
#include "vmsnap/vmsnap.h"

/* Loads the domain's document with the intent in force; -ENOENT (no error set) when
 * there is no document. */
int vmsnap_store_load(const char *state_dir, const char *uuid, vmsnap_domain_meta **ret,
                      vmsnap_error *error);
/* Writes the document (the model) at the next generation, with meta->intent in the
 * journal; on success meta->generation is the document's. */
int vmsnap_store_save(const char *state_dir, vmsnap_domain_meta *meta, vmsnap_error *error);
/* Writes only meta->intent, for the document at meta->generation as written (which must
 * be one this store wrote: not 0); the model on disk stays as it is. */
int vmsnap_store_save_intent(const char *state_dir, const vmsnap_domain_meta *meta, vmsnap_error *error);
/* Removes the document, then its journal; missing ones are fine. */
int vmsnap_store_remove(const char *state_dir, const char *uuid, vmsnap_error *error);

/* The UUIDs of every domain document in the state directory (<uuid>.json), unsorted;
 * the caller frees each string, then the array. A missing directory lists nothing. */
int vmsnap_store_list(const char *state_dir, char ***ret, size_t *n_ret, vmsnap_error *error);

/* The model read back from a JSON object (document.h writes it), every field checked;
 * for unit tests and for the intent journal. */
int vmsnap_store_from_json(json_object *object, vmsnap_domain_meta **ret, vmsnap_error *error);

/* The string member key of object, or NULL when object is NULL, has no such member or it is
 * not a string: for readers that take what a record holds (an intent, a history line). */
const char *vmsnap_json_string(json_object *object, const char *key);
/* The array member key of object, or NULL as vmsnap_json_string has it. */
json_object *vmsnap_json_array(json_object *object, const char *key);
/* The object member key of object, or NULL as vmsnap_json_string has it. */
json_object *vmsnap_json_object(json_object *object, const char *key);
