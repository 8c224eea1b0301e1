/*
 * s3xml.c - walks the libxml2 tree by local element names.
 */
#include "s3/s3xml.h"

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "base/mem.h"
#include "base/str.h"

#define PARSE_FLAGS                                                            \
    (XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR |                \
     XML_PARSE_NOWARNING)

static bool named(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE &&
           strcmp((const char *)n->name, name) == 0;
}

static int malformed(struct kiln_diag *d)
{
    return diag_set(d, KILN_ESERIAL,
                    "The XML you provided was not well-formed or did not "
                    "validate against our published schema");
}

static xmlDoc *parse(const char *body, size_t len, const char *root)
{
    xmlDoc *doc;
    xmlNode *top;

    if (len == 0 || len > (size_t)INT32_MAX)
        return NULL;
    doc = xmlReadMemory(body, (int)len, NULL, NULL, PARSE_FLAGS);
    if (!doc)
        return NULL;
    top = xmlDocGetRootElement(doc);
    if (!top || !named(top, root)) {
        xmlFreeDoc(doc);
        return NULL;
    }
    return doc;
}

/* The text of n (owned by the caller, mem_free). */
static char *text_of(const xmlNode *n)
{
    xmlChar *c = xmlNodeGetContent(n);
    char *s = xstrdup(c ? (const char *)c : "");
    xmlFree(c);
    return s;
}

int s3xml_parse_delete(const char *body, size_t len, struct s3xml_delete *out,
                       struct kiln_diag *d)
{
    xmlDoc *doc = parse(body, len, "Delete");
    struct s3xml_delete x = {0};

    if (!doc)
        return malformed(d);
    for (xmlNode *n = xmlDocGetRootElement(doc)->children; n; n = n->next) {
        if (named(n, "Quiet")) {
            char *t = text_of(n);
            x.quiet = strcmp(t, "true") == 0;
            mem_free(t);
        } else if (named(n, "Object")) {
            char *key = NULL;
            for (xmlNode *c = n->children; c; c = c->next)
                if (named(c, "Key") && !key)
                    key = text_of(c);
            if (!key || x.nkeys == S3XML_MAX_KEYS) {
                mem_free(key);
                goto bad;
            }
            x.keys = xrealloc(x.keys, (x.nkeys + 1) * sizeof(*x.keys));
            x.keys[x.nkeys++] = key;
        }
    }
    xmlFreeDoc(doc);
    if (x.nkeys == 0) {
        s3xml_delete_free(&x);
        return malformed(d);
    }
    *out = x;
    return 0;
bad:
    xmlFreeDoc(doc);
    s3xml_delete_free(&x);
    return malformed(d);
}

void s3xml_delete_free(struct s3xml_delete *x)
{
    for (size_t i = 0; i < x->nkeys; i++)
        mem_free(x->keys[i]);
    mem_free(x->keys);
    x->keys = NULL;
    x->nkeys = 0;
}

int s3xml_parse_complete(const char *body, size_t len,
                         struct s3xml_complete *out, struct kiln_diag *d)
{
    xmlDoc *doc = parse(body, len, "CompleteMultipartUpload");
    struct s3xml_complete x = {0};

    if (!doc)
        return malformed(d);
    for (xmlNode *n = xmlDocGetRootElement(doc)->children; n; n = n->next) {
        if (!named(n, "Part"))
            continue;
        struct s3xml_part p = {.number = -1};
        for (xmlNode *c = n->children; c; c = c->next) {
            char *t;
            if (named(c, "PartNumber")) {
                int64_t v;
                t = text_of(c);
                if (parse_i64_str(t, 1, 10000, &v) == 0)
                    p.number = (int)v;
                mem_free(t);
            } else if (named(c, "ETag")) {
                t = text_of(c);
                const char *e = t;
                size_t n2 = strlen(e);
                if (n2 >= 2 && e[0] == '"' && e[n2 - 1] == '"') {
                    e++;
                    n2 -= 2;
                }
                snprintf(p.etag, sizeof(p.etag), "%.*s",
                         (int)(n2 < sizeof(p.etag) ? n2 : sizeof(p.etag) - 1),
                         e);
                mem_free(t);
            } else {
                static const char *const algs[] = {"crc32", "crc32c", "sha1",
                                                   "sha256"};
                static const char *const names[] = {
                    "ChecksumCRC32", "ChecksumCRC32C", "ChecksumSHA1",
                    "ChecksumSHA256"};
                for (size_t i = 0; i < KILN_ARRAY_LEN(names); i++) {
                    if (!named(c, names[i]))
                        continue;
                    t = text_of(c);
                    str_copy(p.checksum_alg, algs[i], sizeof(p.checksum_alg));
                    str_copy(p.checksum, t, sizeof(p.checksum));
                    mem_free(t);
                }
            }
        }
        if (p.number < 0 || x.nparts == S3XML_MAX_PARTS) {
            xmlFreeDoc(doc);
            s3xml_complete_free(&x);
            return malformed(d);
        }
        x.parts = xrealloc(x.parts, (x.nparts + 1) * sizeof(*x.parts));
        x.parts[x.nparts++] = p;
    }
    xmlFreeDoc(doc);
    if (x.nparts == 0) {
        s3xml_complete_free(&x);
        return diag_set(d, KILN_ESERIAL, "You must specify at least one part");
    }
    *out = x;
    return 0;
}

void s3xml_complete_free(struct s3xml_complete *x)
{
    mem_free(x->parts);
    x->parts = NULL;
    x->nparts = 0;
}

int s3xml_parse_tagging(const char *body, size_t len, struct s3xml_tagging *out,
                        struct kiln_diag *d)
{
    xmlDoc *doc = parse(body, len, "Tagging");
    struct s3xml_tagging x = {0};
    bool has_set = false;

    if (!doc)
        return malformed(d);
    for (xmlNode *n = xmlDocGetRootElement(doc)->children; n; n = n->next) {
        if (!named(n, "TagSet"))
            continue;
        has_set = true;
        for (xmlNode *t = n->children; t; t = t->next) {
            if (!named(t, "Tag"))
                continue;
            struct s3xml_tag tag = {0};
            for (xmlNode *c = t->children; c; c = c->next) {
                if (named(c, "Key") && !tag.key)
                    tag.key = text_of(c);
                else if (named(c, "Value") && !tag.value)
                    tag.value = text_of(c);
            }
            if (!tag.key || !tag.value || x.ntags == S3XML_MAX_TAGS) {
                mem_free(tag.key);
                mem_free(tag.value);
                has_set = false;
                goto out;
            }
            x.tags = xrealloc(x.tags, (x.ntags + 1) * sizeof(*x.tags));
            x.tags[x.ntags++] = tag;
        }
    }
out:
    xmlFreeDoc(doc);
    if (!has_set) {
        s3xml_tagging_free(&x);
        return malformed(d);
    }
    *out = x;
    return 0;
}

void s3xml_tagging_free(struct s3xml_tagging *x)
{
    for (size_t i = 0; i < x->ntags; i++) {
        mem_free(x->tags[i].key);
        mem_free(x->tags[i].value);
    }
    mem_free(x->tags);
    x->tags = NULL;
    x->ntags = 0;
}

int s3xml_parse_location(const char *body, size_t len, char *out, size_t size,
                         struct kiln_diag *d)
{
    xmlDoc *doc;

    out[0] = '\0';
    if (len == 0)
        return 0;
    doc = parse(body, len, "CreateBucketConfiguration");
    if (!doc)
        return malformed(d);
    for (xmlNode *n = xmlDocGetRootElement(doc)->children; n; n = n->next)
        if (named(n, "LocationConstraint")) {
            char *t = text_of(n);
            str_copy(out, t, size);
            mem_free(t);
        }
    xmlFreeDoc(doc);
    return 0;
}

/* The members of a CORSRule, in the order S3 lists them. */
static const struct {
    const char *element, *member;
    bool list;
} cors_fields[] = {
    {"ID", "ID", false},
    {"AllowedHeader", "AllowedHeaders", true},
    {"AllowedMethod", "AllowedMethods", true},
    {"AllowedOrigin", "AllowedOrigins", true},
    {"ExposeHeader", "ExposeHeaders", true},
    {"MaxAgeSeconds", "MaxAgeSeconds", false},
};

int s3xml_parse_cors(const char *body, size_t len, json_t **rules,
                     struct kiln_diag *d)
{
    xmlDoc *doc = parse(body, len, "CORSConfiguration");
    json_t *list = json_array();
    int rc = 0;

    if (!doc) {
        json_decref(list);
        return malformed(d);
    }
    for (xmlNode *n = xmlDocGetRootElement(doc)->children; n && !rc;
         n = n->next) {
        if (!named(n, "CORSRule"))
            continue;
        json_t *rule = json_object();
        for (xmlNode *c = n->children; c && !rc; c = c->next) {
            for (size_t i = 0; i < KILN_ARRAY_LEN(cors_fields); i++) {
                if (!named(c, cors_fields[i].element))
                    continue;
                char *t = text_of(c);
                json_t *v = json_string(t);
                mem_free(t);
                if (!v) { /* not UTF-8 */
                    rc = malformed(d);
                } else if (cors_fields[i].list) {
                    json_t *a = json_object_get(rule, cors_fields[i].member);
                    if (!a) {
                        a = json_array();
                        json_object_set_new(rule, cors_fields[i].member, a);
                    }
                    json_array_append_new(a, v);
                } else if (json_object_get(rule, cors_fields[i].member)) {
                    json_decref(v);
                    rc = malformed(d);
                } else {
                    json_object_set_new(rule, cors_fields[i].member, v);
                }
            }
        }
        /* Every rule allows some origin some method. */
        if (!rc && (!json_object_get(rule, "AllowedOrigins") ||
                    !json_object_get(rule, "AllowedMethods") ||
                    json_array_size(list) == S3XML_MAX_CORS_RULES))
            rc = malformed(d);
        json_array_append_new(list, rule);
    }
    xmlFreeDoc(doc);
    if (!rc && json_array_size(list) == 0)
        rc = malformed(d);
    if (rc) {
        json_decref(list);
        return rc;
    }
    *rules = list;
    return 0;
}

int s3xml_parse_acl(const char *body, size_t len, const char *owner,
                    bool *owner_only, struct kiln_diag *d)
{
    xmlDoc *doc = parse(body, len, "AccessControlPolicy");
    size_t grants = 0, owners = 0;

    if (!doc)
        return malformed(d);
    for (xmlNode *n = xmlDocGetRootElement(doc)->children; n; n = n->next) {
        if (!named(n, "AccessControlList"))
            continue;
        for (xmlNode *g = n->children; g; g = g->next) {
            if (!named(g, "Grant"))
                continue;
            bool to_owner = false, full = false;
            grants++;
            for (xmlNode *c = g->children; c; c = c->next) {
                char *t = named(c, "Permission") ? text_of(c) : NULL;
                full |= t && strcmp(t, "FULL_CONTROL") == 0;
                mem_free(t);
                if (!named(c, "Grantee"))
                    continue;
                for (xmlNode *e = c->children; e; e = e->next) {
                    char *id = named(e, "ID") ? text_of(e) : NULL;
                    to_owner |= id && strcmp(id, owner) == 0;
                    mem_free(id);
                }
            }
            owners += to_owner && full;
        }
    }
    xmlFreeDoc(doc);
    *owner_only = grants > 0 && owners == grants;
    return 0;
}

static void collect_leaves(const xmlNode *n, json_t *leaves, int depth)
{
    for (const xmlNode *c = n->children; c && depth < 16; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        bool leaf = true;
        for (const xmlNode *g = c->children; g; g = g->next)
            leaf &= g->type != XML_ELEMENT_NODE;
        if (!leaf) {
            collect_leaves(c, leaves, depth + 1);
            continue;
        }
        char *t = text_of(c);
        json_t *v = json_string(t), *list;
        mem_free(t);
        if (!v)
            continue; /* not UTF-8: matches nothing */
        list = json_object_get(leaves, (const char *)c->name);
        if (!list) {
            list = json_array();
            json_object_set_new(leaves, (const char *)c->name, list);
        }
        json_array_append_new(list, v);
    }
}

int s3xml_parse_leaves(const char *body, size_t len, const char *root,
                       json_t **leaves, struct kiln_diag *d)
{
    xmlDoc *doc = parse(body, len, root);

    if (!doc)
        return malformed(d);
    *leaves = json_object();
    collect_leaves(xmlDocGetRootElement(doc), *leaves, 0);
    xmlFreeDoc(doc);
    return 0;
}
