/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* domxml.c: reading and editing libvirt domain XML with libxml2 (domxml.h).
 * Edits touch only the elements they are about and keep the rest of the
 * document, white space included, as it was. Never talks to libvirt. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlsave.h>

#include "domxml.h"
#include "error.h"

static void xml_doc_freep(xmlDocPtr *doc)
{
        if (*doc)
                xmlFreeDoc(*doc);
}
#define _cleanup_xml_doc_ _cleanup_(xml_doc_freep)

static void xml_charp_freep(xmlChar **text)
{
        if (*text)
                xmlFree(*text);
}
#define _cleanup_xml_char_ _cleanup_(xml_charp_freep)

/* libxml2 wants its global state set up once before threads use it. */
static pthread_once_t xml_init_once = PTHREAD_ONCE_INIT;
static void xml_init(void)
{
        xmlInitParser();
}

static bool name_is(const xmlNode *node, const char *name)
{
        return node && node->type == XML_ELEMENT_NODE && xmlStrEqual(node->name, (const xmlChar *)name);
}

static xmlNode *first_child(const xmlNode *parent, const char *name)
{
        if (!parent)
                return NULL;
        for (xmlNode *child = parent->children; child; child = child->next)
                if (name_is(child, name))
                        return child;
        return NULL;
}

static xmlNode *next_sibling(xmlNode *node, const char *name)
{
        for (xmlNode *sibling = node->next; sibling; sibling = sibling->next)
                if (name_is(sibling, name))
                        return sibling;
        return NULL;
}

/* An attribute as a malloc'd C string; NULL when absent. */
static char *attribute_dup(const xmlNode *node, const char *name)
{
        if (!node)
                return NULL;
        _cleanup_xml_char_ xmlChar *value = xmlGetProp(node, (const xmlChar *)name);
        if (!value)
                return NULL;
        char *copy = xstrdup((const char *)value);
        return copy;
}

static bool attribute_equals(const xmlNode *node, const char *name, const char *expected)
{
        _cleanup_xml_char_ xmlChar *value = xmlGetProp(node, (const xmlChar *)name);
        return value && xmlStrEqual(value, (const xmlChar *)expected);
}

static char *content_dup(const xmlNode *node)
{
        _cleanup_xml_char_ xmlChar *value = xmlNodeGetContent(node);
        char *copy = xstrdup(value ? (const char *)value : "");
        return copy;
}

/* Replaces the text of node; text is taken literally (no entity references). */
static void content_set(xmlNode *node, const char *text)
{
        xmlNodeSetContent(node, NULL);
        xmlNodeAddContent(node, (const xmlChar *)text);
}

/* Parses libvirt XML whose root element must be <root> (domain, pool). */
static int parse_libvirt_xml(const char *xml, const char *root_name, xmlDocPtr *ret, vmsnap_error *error)
{
        if (!xml)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT, "no %s XML was given",
                                        root_name);
        size_t size = strlen(xml);
        if (size > INT_MAX)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "the %s XML is too large (%zu bytes)", root_name, size);

        pthread_once(&xml_init_once, xml_init);
        xmlResetLastError();
        /* No network, no entity expansion, no messages on stderr; white space kept as the user wrote it. */
        xmlDocPtr doc = xmlReadMemory(xml, (int)size, "domain.xml", NULL,
                                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        if (!doc) {
                const xmlError *parse_error = xmlGetLastError();
                char message[256] = "unknown error";
                if (parse_error && parse_error->message) {
                        snprintf(message, sizeof(message), "%s", parse_error->message);
                        message[strcspn(message, "\n")] = '\0';
                }
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "the %s XML is not well-formed (line %d: %s)", root_name,
                                        parse_error ? parse_error->line : 0, message);
        }

        /* libvirt never writes a DOCTYPE; refusing one keeps entity tricks out of everything below. */
        if (doc->intSubset || doc->extSubset) {
                xmlFreeDoc(doc);
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "the %s XML has a <!DOCTYPE>, which libvirt XML never has",
                                        root_name);
        }

        xmlNode *root = xmlDocGetRootElement(doc);
        if (!name_is(root, root_name)) {
                int r = vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                         "the XML is not a libvirt %s: its root element is <%s>, not <%s>",
                                         root_name, root ? (const char *)root->name : "", root_name);
                xmlFreeDoc(doc);
                return r;
        }
        *ret = doc;
        return 0;
}

static int parse_domain(const char *xml, xmlDocPtr *ret, vmsnap_error *error)
{
        return parse_libvirt_xml(xml, "domain", ret, error);
}

int vmsnap_xml_pool_target(const char *xml, char **type_ret, char **path_ret, vmsnap_error *error)
{
        _cleanup_xml_doc_ xmlDocPtr doc = NULL;
        int r;

        *type_ret = *path_ret = NULL;
        r = parse_libvirt_xml(xml, "pool", &doc, error);
        if (r < 0)
                return r;
        xmlNode *root = xmlDocGetRootElement(doc);
        xmlNode *path = first_child(first_child(root, "target"), "path");
        *type_ret = attribute_dup(root, "type");
        *path_ret = path ? content_dup(path) : NULL;
        return 0;
}

static int serialize(xmlDocPtr doc, char **ret, vmsnap_error *error)
{
        xmlBufferPtr buffer = xmlBufferCreate();
        if (!buffer)
                oom();

        /* Like libvirt's own output: no <?xml?> declaration, UTF-8 as is. */
        xmlSaveCtxtPtr save = xmlSaveToBuffer(buffer, "UTF-8", XML_SAVE_NO_DECL);
        if (!save)
                oom(); /* the encoding is fixed and known: only memory can be missing */
        long written = xmlSaveDoc(save, doc);
        xmlSaveClose(save);
        if (written < 0) {
                xmlBufferFree(buffer);
                return vmsnap_error_set(error, -EIO, VMSNAP_ERROR_FAILED, "could not write the domain XML");
        }

        *ret = xstrdup((const char *)xmlBufferContent(buffer));
        xmlBufferFree(buffer);
        return 0;
}

/* The <disk> after disk under /domain/devices (the first one when disk is NULL), in document order. */
static xmlNode *next_disk(xmlNode *root, xmlNode *disk)
{
        xmlNode *devices = disk ? disk->parent : first_child(root, "devices");
        disk = disk ? next_sibling(disk, "disk") : first_child(devices, "disk");
        while (!disk && devices) {
                devices = next_sibling(devices, "devices");
                disk = first_child(devices, "disk");
        }
        return disk;
}

/* The disk whose <target dev> is target, or NULL. */
static xmlNode *find_disk(xmlNode *root, const char *target)
{
        xmlNode *disk = next_disk(root, NULL);
        while (disk && !attribute_equals(first_child(disk, "target"), "dev", target))
                disk = next_disk(root, disk);
        return disk;
}

/* As find_disk, for a change that names the disk: a domain without it is refused. */
static int find_disk_to_change(xmlNode *root, const char *target, xmlNode **ret, vmsnap_error *error)
{
        *ret = find_disk(root, target);
        if (!*ret)
                return vmsnap_error_set(error, -ENOENT, VMSNAP_ERROR_NOT_FOUND,
                                        "the domain has no disk with target %s", target);
        return 0;
}

static bool disk_is_file(const xmlNode *disk)
{
        /* libvirt treats a disk without a type as a file disk. */
        _cleanup_xml_char_ xmlChar *type = xmlGetProp(disk, (const xmlChar *)"type");
        return !type || xmlStrEqual(type, (const xmlChar *)"file");
}

/* libvirt writes <backingStore/> for "no backing file"; only one with content describes a chain. */
static bool has_backing_store_content(const xmlNode *disk)
{
        for (xmlNode *backing = first_child(disk, "backingStore"); backing;
             backing = next_sibling(backing, "backingStore"))
                if (backing->properties || xmlFirstElementChild(backing))
                        return true;
        return false;
}

void vmsnap_xml_disks_free(vmsnap_xml_disk *disks, size_t n)
{
        if (!disks)
                return;
        for (size_t i = 0; i < n; i++) {
                free(disks[i].target);
                free(disks[i].device);
                free(disks[i].type);
                free(disks[i].source);
                free(disks[i].rbd);
                free(disks[i].format);
        }
        free(disks);
}

int vmsnap_xml_disks(const char *xml, vmsnap_xml_disk **ret, size_t *n_ret, vmsnap_error *error)
{
        _cleanup_xml_doc_ xmlDocPtr doc = NULL;
        vmsnap_xml_disk *disks = NULL;
        size_t n = 0;
        int r;

        r = parse_domain(xml, &doc, error);
        if (r < 0)
                return r;

        xmlNode *root = xmlDocGetRootElement(doc);
        for (xmlNode *node = next_disk(root, NULL); node; node = next_disk(root, node)) {
                char *target = attribute_dup(first_child(node, "target"), "dev");
                if (!target || !*target) {
                        free(target);
                        vmsnap_xml_disks_free(disks, n);
                        return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                                "disk %zu of the domain XML has no <target dev=...>", n + 1);
                }

                disks = xreallocarray(disks, n + 1, sizeof(*disks));
                vmsnap_xml_disk *disk = &disks[n++];
                *disk = (vmsnap_xml_disk){.target = target};

                disk->device = attribute_dup(node, "device");
                if (!disk->device)
                        disk->device = xstrdup("disk");
                disk->type = attribute_dup(node, "type");
                if (!disk->type)
                        disk->type = xstrdup("file");
                if (disk_is_file(node))
                        disk->source = attribute_dup(first_child(node, "source"), "file");
                else if (attribute_equals(node, "type", "network") &&
                         attribute_equals(first_child(node, "source"), "protocol", "rbd"))
                        disk->rbd = attribute_dup(first_child(node, "source"), "name");
                disk->format = attribute_dup(first_child(node, "driver"), "type");
                disk->readonly = first_child(node, "readonly") != NULL;
                disk->shareable = first_child(node, "shareable") != NULL;
                disk->has_backing_store = has_backing_store_content(node);
        }

        *ret = disks;
        *n_ret = n;
        return 0;
}

int vmsnap_xml_identity(const char *xml, char **name_ret, char **uuid_ret, vmsnap_error *error)
{
        _cleanup_xml_doc_ xmlDocPtr doc = NULL;
        int r;

        r = parse_domain(xml, &doc, error);
        if (r < 0)
                return r;

        xmlNode *root = xmlDocGetRootElement(doc);
        xmlNode *name = first_child(root, "name");
        if (!name)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "the domain XML has no <name>");
        xmlNode *uuid = first_child(root, "uuid");

        if (name_ret)
                *name_ret = content_dup(name);
        if (uuid_ret)
                *uuid_ret = uuid ? content_dup(uuid) : NULL;
        return 0;
}

/* Removes node together with the indentation in front of it, so the output keeps its shape. */
static void remove_element(xmlNode *node)
{
        xmlNode *before = node->prev;
        if (before && xmlIsBlankNode(before)) {
                xmlUnlinkNode(before);
                xmlFreeNode(before);
        }
        xmlUnlinkNode(node);
        xmlFreeNode(node);
}

/* Adds an empty element as the last element child of parent, indented like its siblings. */
static xmlNode *append_element(xmlNode *parent, const char *name)
{
        xmlNode *element = xmlNewDocNode(parent->doc, NULL, (const xmlChar *)name, NULL);
        if (!element)
                oom();

        xmlNode *last = xmlLastElementChild(parent);
        if (!last) {
                xmlAddChild(parent, element);
                return element;
        }
        xmlAddNextSibling(last, element);
        if (last->prev && xmlIsBlankNode(last->prev)) {
                xmlNode *indent = xmlCopyNode(last->prev, 1);
                if (!indent)
                        oom();
                xmlAddPrevSibling(element, indent);
        }
        return element;
}

static void set_attribute(xmlNode *node, const char *name, const char *value)
{
        /* xmlSetProp takes the value literally and escapes it on output. */
        if (!xmlSetProp(node, (const xmlChar *)name, (const xmlChar *)value))
                oom();
}

static void unset_attribute(xmlNode *node, const char *name)
{
        xmlUnsetProp(node, (const xmlChar *)name);
}

static void disk_set_source(xmlNode *disk, const char *source, const char *format)
{
        bool was_file = disk_is_file(disk);

        set_attribute(disk, "type", "file");

        xmlNode *source_node = first_child(disk, "source");
        if (source_node && !was_file) {
                /* A block, volume or network source (dev=, pool=, protocol=, <host>...) means nothing for a
                 * file disk: start the source over. */
                remove_element(source_node);
                source_node = NULL;
        }
        if (!source_node)
                source_node = append_element(disk, "source");
        set_attribute(source_node, "file", source);
        /* index= numbers the old image in libvirt's live XML; it must not follow the new file. */
        unset_attribute(source_node, "index");

        xmlNode *driver = first_child(disk, "driver");
        if (!driver) {
                driver = append_element(disk, "driver");
                set_attribute(driver, "name", "qemu");
        }
        set_attribute(driver, "type", format);

        /* Without a <backingStore>, libvirt reads the new chain from the image headers. */
        xmlNode *backing;
        while ((backing = first_child(disk, "backingStore")))
                remove_element(backing);
}

/* Points the RBD disk target at another image of its cluster: its hosts, configuration
 * and authentication stay. */
static int disk_set_rbd_image(xmlNode *root, const char *target, const char *image, vmsnap_error *error)
{
        xmlNode *disk, *source_node, *backing;
        int r = find_disk_to_change(root, target, &disk, error);

        if (r < 0)
                return r;
        source_node = first_child(disk, "source");
        if (!attribute_equals(disk, "type", "network") || !attribute_equals(source_node, "protocol", "rbd"))
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "disk %s is not an RBD disk, so it cannot read RBD image %s", target,
                                        image);
        set_attribute(source_node, "name", image);
        unset_attribute(source_node, "index");
        while ((backing = first_child(disk, "backingStore")))
                remove_element(backing);
        return 0;
}

int vmsnap_xml_set_disk_sources(const char *xml, const vmsnap_xml_disk_source *sources, size_t n, char **ret,
                                vmsnap_error *error)
{
        _cleanup_xml_doc_ xmlDocPtr doc = NULL;
        int r;

        r = parse_domain(xml, &doc, error);
        if (r < 0)
                return r;

        xmlNode *root = xmlDocGetRootElement(doc);
        for (size_t i = 0; i < n; i++) {
                const vmsnap_xml_disk_source *wanted = &sources[i];
                if (wanted->target && wanted->rbd_image) {
                        r = disk_set_rbd_image(root, wanted->target, wanted->rbd_image, error);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (!wanted->target || !wanted->source || !wanted->format)
                        return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                                "disk source %zu lacks a target, a source path or a format",
                                                i);

                xmlNode *disk;
                r = find_disk_to_change(root, wanted->target, &disk, error);
                if (r < 0)
                        return r;

                disk_set_source(disk, wanted->source, wanted->format);
        }

        return serialize(doc, ret, error);
}

int vmsnap_xml_without_secrets(const char *xml, char **ret, vmsnap_error *error)
{
        _cleanup_xml_doc_ xmlDocPtr doc = NULL;
        int r;

        r = parse_domain(xml, &doc, error);
        if (r < 0)
                return r;
        xmlNode *devices = first_child(xmlDocGetRootElement(doc), "devices");
        for (xmlNode *graphics = devices ? first_child(devices, "graphics") : NULL; graphics;
             graphics = next_sibling(graphics, "graphics"))
                unset_attribute(graphics, "passwd");
        return serialize(doc, ret, error);
}

static int domain_set_name(xmlNode *root, const char *name, xmlNode **ret, vmsnap_error *error)
{
        if (!name || !*name)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "a domain needs a non-empty name");
        xmlNode *name_node = first_child(root, "name");
        if (!name_node)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "the domain XML has no <name>");
        content_set(name_node, name);
        *ret = name_node;
        return 0;
}

int vmsnap_xml_set_name(const char *xml, const char *name, char **ret, vmsnap_error *error)
{
        _cleanup_xml_doc_ xmlDocPtr doc = NULL;
        xmlNode *name_node = NULL;
        int r;

        r = parse_domain(xml, &doc, error);
        if (r < 0)
                return r;
        r = domain_set_name(xmlDocGetRootElement(doc), name, &name_node, error);
        if (r < 0)
                return r;
        return serialize(doc, ret, error);
}

int vmsnap_xml_rename_domain(const char *xml, const char *name, const char *uuid, const char *nvram,
                             char **ret, vmsnap_error *error)
{
        _cleanup_xml_doc_ xmlDocPtr doc = NULL;
        int r;

        r = parse_domain(xml, &doc, error);
        if (r < 0)
                return r;

        xmlNode *root = xmlDocGetRootElement(doc);
        xmlNode *name_node = NULL;
        r = domain_set_name(root, name, &name_node, error);
        if (r < 0)
                return r;

        xmlNode *uuid_node = first_child(root, "uuid");
        if (uuid && !uuid_node) {
                uuid_node = xmlNewDocNode(doc, NULL, (const xmlChar *)"uuid", NULL);
                if (!uuid_node)
                        oom();
                xmlAddNextSibling(name_node, uuid_node);
                if (name_node->prev && xmlIsBlankNode(name_node->prev))
                        xmlAddPrevSibling(uuid_node, xmlCopyNode(name_node->prev, 1));
        }
        if (uuid)
                content_set(uuid_node, uuid);
        else if (uuid_node)
                remove_element(uuid_node); /* libvirt generates one on define */

        /* Without <mac>, libvirt gives each interface a fresh address, so the clone can share a network. */
        for (xmlNode *devices = first_child(root, "devices"); devices;
             devices = next_sibling(devices, "devices"))
                for (xmlNode *interface = first_child(devices, "interface"); interface;
                     interface = next_sibling(interface, "interface")) {
                        xmlNode *mac;
                        while ((mac = first_child(interface, "mac")))
                                remove_element(mac);
                }

        xmlNode *nvram_node = first_child(first_child(root, "os"), "nvram");
        if (nvram && nvram_node) {
                /* libvirt >= 8.5 may describe the NVRAM as <nvram type='file'><source file=.../></nvram>. */
                xmlNode *nvram_source = first_child(nvram_node, "source");
                if (nvram_source)
                        set_attribute(nvram_source, "file", nvram);
                else
                        content_set(nvram_node, nvram);
        }

        return serialize(doc, ret, error);
}

int vmsnap_xml_nvram(const char *xml, char **ret, vmsnap_error *error)
{
        _cleanup_xml_doc_ xmlDocPtr doc = NULL;
        int r;

        *ret = NULL;
        r = parse_domain(xml, &doc, error);
        if (r < 0)
                return r;
        xmlNode *nvram = first_child(first_child(xmlDocGetRootElement(doc), "os"), "nvram");
        if (!nvram)
                return 0;
        xmlNode *source = first_child(nvram, "source");
        *ret = source ? attribute_dup(source, "file") : content_dup(nvram);
        if (*ret && !**ret) {
                free(*ret);
                *ret = NULL;
        }
        return 0;
}

int vmsnap_xml_remove_disks(const char *xml, const char *const *targets, size_t n, char **ret,
                            vmsnap_error *error)
{
        _cleanup_xml_doc_ xmlDocPtr doc = NULL;
        int r;

        r = parse_domain(xml, &doc, error);
        if (r < 0)
                return r;
        xmlNode *root = xmlDocGetRootElement(doc);
        for (size_t i = 0; i < n; i++) {
                xmlNode *disk;
                r = find_disk_to_change(root, targets[i], &disk, error);
                if (r < 0)
                        return r;
                remove_element(disk);
        }
        return serialize(doc, ret, error);
}

void vmsnap_xml_rbd_source_clear(vmsnap_xml_rbd_source *source)
{
        free(source->pool);
        free(source->rados_namespace);
        free(source->image);
        free(source->snapshot);
        free(source->mon_host);
        free(source->config_file);
        free(source->auth_username);
        free(source->secret_uuid);
        free(source->secret_usage);
        *source = (vmsnap_xml_rbd_source){0};
}

/* name='pool/image', 'pool/namespace/image', either with '@snapshot', as libvirt reads it. */
static int parse_rbd_name(const char *target, const char *name, vmsnap_xml_rbd_source *source,
                          vmsnap_error *error)
{
        const char *at = strchr(name, '@');
        size_t length = at ? (size_t)(at - name) : strlen(name);
        const char *first = memchr(name, '/', length);
        const char *last = first ? memrchr(name, '/', length) : NULL;

        if (!first || first == name || last == name + length - 1 || (at && !at[1]) ||
            (last != first && last == first + 1))
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "disk %s has the RBD source name '%s'; vmsnap reads "
                                        "pool/image or pool/namespace/image",
                                        target, name);
        source->pool = xstrndup(name, first - name);
        if (last != first)
                source->rados_namespace = xstrndup(first + 1, last - first - 1);
        source->image = xstrndup(last + 1, name + length - last - 1);
        if (at)
                source->snapshot = xstrndup(at + 1, strlen(at + 1));
        return 0;
}

/* The <host> children as librados' mon_host: name:port, IPv6 addresses in brackets. */
static char *rbd_mon_host(const xmlNode *source)
{
        char *hosts = NULL;
        size_t size = 0;
        FILE *out = NULL;
        bool any = false;

        for (xmlNode *host = first_child(source, "host"); host; host = next_sibling(host, "host")) {
                _cleanup_free_ char *name = attribute_dup(host, "name");
                _cleanup_free_ char *port = attribute_dup(host, "port");
                if (!name)
                        continue;
                if (!out && !(out = open_memstream(&hosts, &size)))
                        oom();
                bool bracket = strchr(name, ':') && name[0] != '[';
                fprintf(out, "%s%s%s%s%s%s", any ? "," : "", bracket ? "[" : "", name, bracket ? "]" : "",
                        port ? ":" : "", port ? port : "");
                any = true;
        }
        if (out && fclose(out) != 0)
                oom();
        return hosts;
}

int vmsnap_xml_rbd_source_read(const char *xml, const char *target, vmsnap_xml_rbd_source *ret,
                               vmsnap_error *error)
{
        _cleanup_xml_doc_ xmlDocPtr doc = NULL;
        vmsnap_xml_rbd_source source = {0};
        int r;

        *ret = (vmsnap_xml_rbd_source){0};
        r = parse_domain(xml, &doc, error);
        if (r < 0)
                return r;
        xmlNode *disk = find_disk(xmlDocGetRootElement(doc), target);
        if (!disk)
                return vmsnap_error_set(error, -ENOENT, VMSNAP_ERROR_NOT_FOUND, "the domain has no disk %s",
                                        target);
        xmlNode *source_node = first_child(disk, "source");
        if (!attribute_equals(disk, "type", "network") || !attribute_equals(source_node, "protocol", "rbd"))
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "disk %s is not an RBD disk (<disk type='network'> with "
                                        "<source protocol='rbd'>)",
                                        target);
        _cleanup_free_ char *name = attribute_dup(source_node, "name");
        if (!name)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "disk %s has an RBD source without a name='pool/image'", target);
        r = parse_rbd_name(target, name, &source, error);
        if (r < 0) {
                vmsnap_xml_rbd_source_clear(&source);
                return r;
        }
        source.mon_host = rbd_mon_host(source_node);
        source.config_file = attribute_dup(first_child(source_node, "config"), "file");

        /* libvirt accepts <auth> inside <source> and, the older way, beside it. */
        xmlNode *auth = first_child(source_node, "auth");
        if (!auth)
                auth = first_child(disk, "auth");
        if (auth) {
                source.auth_username = attribute_dup(auth, "username");
                xmlNode *secret = first_child(auth, "secret");
                source.secret_uuid = attribute_dup(secret, "uuid");
                source.secret_usage = attribute_dup(secret, "usage");
        }
        *ret = source;
        return 0;
}
