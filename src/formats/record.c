/*
 * record.c - protobuf-c glue. The arena hands out 16-byte aligned blocks
 * from 64 KiB chunks (bigger requests get their own chunk) and is reset,
 * not freed, between records; it is capped so a hostile length field
 * cannot make it grow without bound.
 */
#include "formats/record.h"

#include "base/mem.h"
#include "formats/record.pb-c.h"
#include "formats/recordio.h"

#define ARENA_CHUNK (64u << 10)
#define ARENA_MAX   ((size_t)768 << 20)

struct chunk {
    struct chunk *next;
    size_t size, used;
    _Alignas(16) uint8_t data[];
};

struct record_ws {
    struct chunk *chunks;
    size_t total;
    ProtobufCAllocator alloc;
    Aialgs__Data__Record *last;
};

static void *arena_alloc(void *ctx, size_t size)
{
    struct record_ws *ws = ctx;
    struct chunk *c = ws->chunks;
    size = (size + 15) & ~(size_t)15;
    if (!c || c->size - c->used < size) {
        size_t cs = size > ARENA_CHUNK ? size : ARENA_CHUNK;
        if (ws->total + cs > ARENA_MAX)
            return NULL;
        void *p;
        if (mem_try_alloc(sizeof(*c) + cs, &p) != 0)
            return NULL;
        c = p;
        c->size = cs;
        c->used = 0;
        c->next = ws->chunks;
        ws->chunks = c;
        ws->total += cs;
    }
    void *out = c->data + c->used;
    c->used += size;
    return out;
}

static void arena_free(void *ctx, void *p)
{
    (void)ctx;
    (void)p; /* freed all at once by arena_reset */
}

/* Keeps the newest chunk (emptied), frees the rest. */
static void arena_reset(struct record_ws *ws)
{
    struct chunk *c = ws->chunks, *next;
    if (!c)
        return;
    for (struct chunk *o = c->next; o; o = next) {
        next = o->next;
        mem_free(o);
    }
    c->next = NULL;
    c->used = 0;
    ws->total = c->size;
}

struct record_ws *record_ws_new(void)
{
    struct record_ws *ws = xcalloc(1, sizeof(*ws));
    ws->alloc.alloc = arena_alloc;
    ws->alloc.free = arena_free;
    ws->alloc.allocator_data = ws;
    return ws;
}

void record_ws_free(struct record_ws *ws)
{
    struct chunk *next;
    if (!ws)
        return;
    for (struct chunk *c = ws->chunks; c; c = next) {
        next = c->next;
        mem_free(c);
    }
    mem_free(ws);
}

static void view_of(const Aialgs__Data__Value *v, struct record_tensor *t)
{
    memset(t, 0, sizeof(*t));
    if (!v)
        return;
    switch (v->value_case) {
    case AIALGS__DATA__VALUE__VALUE_FLOAT32_TENSOR:
        t->type = RECORD_F32;
        t->n = v->float32_tensor->n_values;
        t->values = v->float32_tensor->values;
        t->nkeys = v->float32_tensor->n_keys;
        t->keys = v->float32_tensor->keys;
        t->nshape = v->float32_tensor->n_shape;
        t->shape = v->float32_tensor->shape;
        break;
    case AIALGS__DATA__VALUE__VALUE_FLOAT64_TENSOR:
        t->type = RECORD_F64;
        t->n = v->float64_tensor->n_values;
        t->values = v->float64_tensor->values;
        t->nkeys = v->float64_tensor->n_keys;
        t->keys = v->float64_tensor->keys;
        t->nshape = v->float64_tensor->n_shape;
        t->shape = v->float64_tensor->shape;
        break;
    case AIALGS__DATA__VALUE__VALUE_INT32_TENSOR:
        t->type = RECORD_I32;
        t->n = v->int32_tensor->n_values;
        t->values = v->int32_tensor->values;
        t->nkeys = v->int32_tensor->n_keys;
        t->keys = v->int32_tensor->keys;
        t->nshape = v->int32_tensor->n_shape;
        t->shape = v->int32_tensor->shape;
        break;
    default:
        break;
    }
}

/* The entry named "values", else the only entry, else NULL. Features
 * and label entries share a layout but not a type, hence the macro. */
#define PICK(entries, n, out)                                                  \
    do {                                                                       \
        (out) = NULL;                                                          \
        for (size_t i_ = 0; i_ < (n); i_++)                                    \
            if ((entries)[i_]->key &&                                          \
                strcmp((entries)[i_]->key, "values") == 0)                     \
                (out) = (entries)[i_]->value;                                  \
        if (!(out) && (n) == 1)                                                \
            (out) = (entries)[0]->value;                                       \
    } while (0)

/* Reads a varint at *p (< end); false if malformed. */
static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

/*
 * The layout every SDK writes for a dense row: one map entry "values" ->
 * Value{float32_tensor{values (packed)}}. Reads it in place; false for
 * anything else (then protobuf-c decodes the general case).
 */
static bool dense_entry(const uint8_t **p, const uint8_t *end,
                        struct record_tensor *t)
{
    static const uint8_t key[] = {0x0a, 0x06, 'v', 'a', 'l',
                                  'u',  'e',  's', 0x12};
    uint64_t elen, vlen, tlen, flen;
    const uint8_t *q = *p;

    if (!varint(&q, end, &elen) || elen > (uint64_t)(end - q))
        return false;
    const uint8_t *eend = q + elen;
    if ((size_t)(eend - q) < sizeof(key) || memcmp(q, key, sizeof(key)))
        return false;
    q += sizeof(key);
    if (!varint(&q, eend, &vlen) || vlen != (uint64_t)(eend - q))
        return false;
    if (q == eend || *q++ != 0x12 || !varint(&q, eend, &tlen) ||
        tlen != (uint64_t)(eend - q))
        return false;
    if (q == eend) { /* an empty tensor */
        memset(t, 0, sizeof(*t));
        t->type = RECORD_F32;
        *p = eend;
        return true;
    }
    if (*q++ != 0x0a || !varint(&q, eend, &flen) ||
        flen != (uint64_t)(eend - q) || flen % 4)
        return false;
    memset(t, 0, sizeof(*t));
    t->type = RECORD_F32;
    t->n = (size_t)flen / 4;
    t->values = q;
    *p = eend;
    return true;
}

int record_decode(struct record_ws *ws, const uint8_t *p, size_t n,
                  struct record_view *out, struct kiln_diag *d)
{
    Aialgs__Data__Record *r;
    const uint8_t *q = p, *end = p + n;

    /* Fast path: features then an optional label, both dense float32. */
    if (q < end && *q == 0x0a) {
        q++;
        if (dense_entry(&q, end, &out->features)) {
            memset(&out->label, 0, sizeof(out->label));
            if (q == end)
                return 0;
            if (*q == 0x12) {
                q++;
                if (dense_entry(&q, end, &out->label) && q == end)
                    return 0;
            }
        }
    }

    arena_reset(ws);
    r = aialgs__data__record__unpack(&ws->alloc, n, p);
    if (!r)
        return diag_set(d, KILN_EINVAL,
                        "a RecordIO record does not hold a valid "
                        "aialgs.data.Record protobuf message");
    const Aialgs__Data__Value *fv, *lv;
    PICK(r->features, r->n_features, fv);
    PICK(r->label, r->n_label, lv);
    view_of(fv, &out->features);
    view_of(lv, &out->label);
    if (out->features.nkeys && out->features.nkeys != out->features.n)
        return diag_set(d, KILN_EINVAL,
                        "a sparse record has %zu keys but %zu values",
                        out->features.nkeys, out->features.n);
    return 0;
}

float record_value(const struct record_tensor *t, size_t i)
{
    const uint8_t *v = t->values; /* may be unaligned (fast path) */
    float f;
    double x;
    int32_t k;

    switch (t->type) {
    case RECORD_F32:
        memcpy(&f, v + 4 * i, 4);
        return f;
    case RECORD_F64:
        memcpy(&x, v + 8 * i, 8);
        return (float)x;
    case RECORD_I32:
        memcpy(&k, v + 4 * i, 4);
        return (float)k;
    case RECORD_NONE:
        break;
    }
    return 0;
}

/* Dense unless it has keys, or is an empty sparse row (shape only). */
static bool is_dense(const struct record_tensor *t)
{
    return t->nkeys == 0 && !(t->n == 0 && t->nshape > 0);
}

/* Checks that t fits feature_dim `dim`, dense or sparse. */
static int check_dim(const struct record_tensor *t, size_t dim,
                     struct kiln_diag *d)
{
    if (t->type == RECORD_NONE && t->nshape == 0)
        return diag_set(d, KILN_EDIM, "a record has no features");
    if (is_dense(t)) {
        if (t->n != dim)
            return diag_set(d, KILN_EDIM,
                            "a record has %zu feature values, but "
                            "feature_dim is %zu",
                            t->n, dim);
        return 0;
    }
    if (t->nshape >= 1 && t->shape[t->nshape - 1] != dim)
        return diag_set(d, KILN_EDIM,
                        "a sparse record has shape %llu, but feature_dim is "
                        "%zu",
                        (unsigned long long)t->shape[t->nshape - 1], dim);
    for (size_t i = 0; i < t->n; i++)
        if (t->keys[i] >= dim)
            return diag_set(d, KILN_EDIM,
                            "a sparse record has key %llu, outside "
                            "feature_dim %zu",
                            (unsigned long long)t->keys[i], dim);
    return 0;
}

int record_to_dense(const struct record_tensor *t, float *row, size_t dim,
                    struct kiln_diag *d)
{
    int rc = check_dim(t, dim, d);
    if (rc)
        return rc;
    if (is_dense(t)) {
        if (t->type == RECORD_F32) {
            memcpy(row, t->values, dim * sizeof(float));
        } else {
            for (size_t i = 0; i < dim; i++)
                row[i] = record_value(t, i);
        }
        return 0;
    }
    memset(row, 0, dim * sizeof(float));
    for (size_t i = 0; i < t->n; i++)
        row[t->keys[i]] = record_value(t, i);
    return 0;
}

int record_read_csr(struct recordio_reader *r, struct record_ws *ws, size_t dim,
                    size_t max_rows, struct csr *m, struct kiln_diag *d)
{
    int rc = 0;

    if (dim > UINT32_MAX)
        return diag_set(d, KILN_EDIM, "feature_dim %zu is too large", dim);
    csr_reset(m);
    m->cols = dim;
    while (m->rows < max_rows) {
        const uint8_t *p;
        size_t n;
        struct record_view v;
        rc = recordio_next(r, &p, &n, d);
        if (rc == KILN_CONTINUE)
            return 0;
        if (rc == 0)
            rc = record_decode(ws, p, n, &v, d);
        if (rc == 0)
            rc = check_dim(&v.features, dim, d);
        if (rc)
            return rc;
        const struct record_tensor *t = &v.features;
        csr_begin_row(m, v.label.n ? record_value(&v.label, 0) : 0.0f);
        for (size_t i = 0; i < t->n; i++) {
            float x = record_value(t, i);
            if (!is_dense(t))
                csr_push(m, (uint32_t)t->keys[i], x);
            else if (x != 0.0f)
                csr_push(m, (uint32_t)i, x);
        }
        csr_end_row(m);
    }
    return 0;
}

/* Packs r and frames it. */
static int frame(struct buf *out, const Aialgs__Data__Record *r)
{
    size_t n = aialgs__data__record__get_packed_size(r);
    uint8_t small[4096];
    uint8_t *p = small;
    int rc;

    if (n > sizeof(small) && mem_try_alloc(n, (void **)&p) != 0)
        return KILN_ENOMEM;
    aialgs__data__record__pack(r, p);
    rc = recordio_write(out, p, n);
    if (p != small)
        mem_free(p);
    return rc;
}

/* A float32 tensor value, and the map entries that can hold it. */
struct entry {
    Aialgs__Data__Record__FeaturesEntry fe;
    Aialgs__Data__Record__LabelEntry le;
    Aialgs__Data__Value v;
    Aialgs__Data__Float32Tensor t;
};

static void entry_init(struct entry *x, const char *key, const float *values,
                       size_t n)
{
    aialgs__data__record__features_entry__init(&x->fe);
    aialgs__data__record__label_entry__init(&x->le);
    aialgs__data__value__init(&x->v);
    aialgs__data__float32_tensor__init(&x->t);
    x->t.n_values = n;
    x->t.values = (float *)(uintptr_t)values;
    x->v.value_case = AIALGS__DATA__VALUE__VALUE_FLOAT32_TENSOR;
    x->v.float32_tensor = &x->t;
    x->fe.key = x->le.key = (char *)(uintptr_t)key;
    x->fe.value = x->le.value = &x->v;
}

static int write_one(struct buf *out, struct entry *features,
                     const float *label)
{
    Aialgs__Data__Record r;
    struct entry lab;
    Aialgs__Data__Record__FeaturesEntry *fe[1];
    Aialgs__Data__Record__LabelEntry *le[1];

    aialgs__data__record__init(&r);
    fe[0] = &features->fe;
    r.n_features = 1;
    r.features = fe;
    if (label) {
        entry_init(&lab, "values", label, 1);
        le[0] = &lab.le;
        r.n_label = 1;
        r.label = le;
    }
    return frame(out, &r);
}

int record_write_dense(struct buf *out, const float *row, size_t dim,
                       const float *label)
{
    struct entry f;
    entry_init(&f, "values", row, dim);
    return write_one(out, &f, label);
}

int record_write_sparse(struct buf *out, const float *values,
                        const uint64_t *keys, size_t n, uint64_t dim,
                        const float *label)
{
    struct entry f;
    uint64_t shape[1] = {dim};
    entry_init(&f, "values", values, n);
    f.t.n_keys = n;
    f.t.keys = (uint64_t *)(uintptr_t)keys;
    f.t.n_shape = 1;
    f.t.shape = shape;
    return write_one(out, &f, label);
}

int record_write_labels(struct buf *out, const char *const *names,
                        const float *values, size_t n)
{
    Aialgs__Data__Record r;
    struct entry e[8];
    Aialgs__Data__Record__LabelEntry *le[8];

    if (n > 8)
        return KILN_EINVAL;
    aialgs__data__record__init(&r);
    for (size_t i = 0; i < n; i++) {
        entry_init(&e[i], names[i], &values[i], 1);
        le[i] = &e[i].le;
    }
    r.n_label = n;
    r.label = le;
    return frame(out, &r);
}
