/*
 * objstore.c - blob files. Ids are 128 random bits in hex; the first two
 * digits name a subdirectory so no directory grows past a few thousand
 * entries per million objects.
 */
#include "s3/objstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "base/crc32c.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/tm.h"

struct objstore {
    char *root; /* <data-dir>/objects */
    struct meta *meta;
    pthread_mutex_t lock; /* guards asms and everything in them */
    pthread_cond_t settled;
    struct objstore_asm *asms;
};

#define MAX_PARTS     10000
#define MAX_ASM_BYTES ((uint64_t)5 << 40) /* S3's largest object */

/* A multipart upload's assembly file and who writes where in it. */
struct objstore_asm {
    struct objstore_asm *next;
    char upload[64];
    char blob[META_BLOB_ID];
    uint64_t stride;   /* 0 until a part of OBJSTORE_MIN_STRIDE bytes */
    unsigned inflight; /* writers holding a claim */
    unsigned closing;  /* completions under way: no new claims */
    bool ended;        /* off the list; freed by the last writer */
    uint8_t taken[MAX_PARTS / 8 + 1]; /* claimed or stored ranges */
};

static void make_id(char id[META_BLOB_ID])
{
    uint8_t b[16];
    KILN_ASSERT(getrandom(b, sizeof(b), 0) == (ssize_t)sizeof(b));
    str_hex(b, sizeof(b), id);
}

void objstore_blob_path(struct objstore *s, const char *id, struct buf *out)
{
    buf_addf(out, "%s/%.2s/%s", s->root, id, id);
}

static void tmp_path(struct objstore *s, const char *id, struct buf *out)
{
    buf_addf(out, "%s/tmp/%s", s->root, id);
}

static bool is_id(const char *name)
{
    if (strlen(name) != META_BLOB_ID - 1)
        return false;
    for (; *name; name++)
        if (!((*name >= '0' && *name <= '9') || (*name >= 'a' && *name <= 'f')))
            return false;
    return true;
}

/* Removes temp files and blobs that no index row references. */
static void sweep(struct objstore *s)
{
    struct buf path = BUF_INIT(4096);
    DIR *top = opendir(s->root);
    struct dirent *e;
    int removed = 0;

    while (top && (e = readdir(top))) {
        if (e->d_name[0] == '.')
            continue;
        buf_reset(&path);
        buf_addf(&path, "%s/%s", s->root, e->d_name);
        DIR *sub = opendir(buf_cstr(&path));
        struct dirent *f;
        bool tmp = strcmp(e->d_name, "tmp") == 0;
        size_t mark = path.len;
        while (sub && (f = readdir(sub))) {
            if (f->d_name[0] == '.')
                continue;
            if (!tmp && is_id(f->d_name) &&
                meta_blob_in_use(s->meta, f->d_name))
                continue;
            path.len = mark;
            buf_addf(&path, "/%s", f->d_name);
            if (unlink(buf_cstr(&path)) == 0)
                removed++;
        }
        if (sub)
            closedir(sub);
    }
    if (top)
        closedir(top);
    buf_release(&path);
    if (removed)
        log_info("event=objstore_sweep removed=%d", removed);
}

int objstore_open(const char *data_dir, struct meta *m, struct objstore **out,
                  struct kiln_diag *d)
{
    struct objstore *s = xcalloc(1, sizeof(*s));
    struct buf p = BUF_INIT(4096);
    static const char hexd[] = "0123456789abcdef";

    buf_addf(&p, "%s/objects", data_dir);
    s->root = buf_detach(&p, NULL);
    s->meta = m;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->settled, NULL);
    buf_addf(&p, "%s/tmp", s->root);
    if ((mkdir(s->root, 0700) != 0 && errno != EEXIST) ||
        (mkdir(buf_cstr(&p), 0700) != 0 && errno != EEXIST))
        goto fail;
    for (int i = 0; i < 256; i++) {
        buf_reset(&p);
        buf_addf(&p, "%s/%c%c", s->root, hexd[i >> 4], hexd[i & 15]);
        if (mkdir(buf_cstr(&p), 0700) != 0 && errno != EEXIST)
            goto fail;
    }
    buf_release(&p);
    sweep(s);
    *out = s;
    return 0;
fail:
    diag_set(d, KILN_EIO, "cannot create '%s': %s", buf_cstr(&p),
             strerror(errno));
    buf_release(&p);
    objstore_close(s);
    return KILN_EIO;
}

void objstore_close(struct objstore *s)
{
    if (!s)
        return;
    while (s->asms) {
        struct objstore_asm *a = s->asms;
        s->asms = a->next;
        mem_free(a);
    }
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->settled);
    mem_free(s->root);
    mem_free(s);
}

#define WRITE_BUF        ((size_t)1 << 20)
#define WRITEBACK_WINDOW ((uint64_t)8 << 20)
#define DIRECT_ALIGN     ((size_t)4096)

#define NBLOCKS KILN_ARRAY_LEN(((struct objstore_writer *)0)->blocks)

/* What a handed-off block still needs. */
enum { STAGE_DIGEST = 1, STAGE_WRITE = 2 };

/*
 * The threads of a large object's writer: blocks go in, in order, to the
 * digest thread and, when the file takes direct I/O, to a write thread
 * (the receiving thread then never copies into the page cache: the disk
 * reads the block itself). A block is reused once both are done with it.
 */
struct objstore_pipe {
    pthread_t digester, writer;
    bool has_writer;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    size_t len[NBLOCKS];    /* the block's bytes */
    uint64_t off[NBLOCKS];  /* where it goes in the file */
    unsigned todo[NBLOCKS]; /* STAGE_* bits still to do */
    unsigned dnext, wnext;  /* the next block of each thread */
    int werr;               /* the write thread's errno, or 0 */
    bool closing;
    struct objstore_writer *w;
};

static void digest(struct objstore_writer *w, const void *data, size_t len);
static void asm_release(struct objstore *s, struct objstore_writer *w,
                        bool kept);

/* Direct writes of whole blocks; the last, partial block of an object
 * is written through the page cache (direct I/O needs aligned sizes). */
static int write_block(int fd, const uint8_t *p, size_t len, uint64_t off)
{
    if (len % DIRECT_ALIGN) {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_DIRECT) != 0)
            return errno;
    }
    while (len) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? errno : EIO;
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

/* One stage's thread: takes its blocks in order until closing. */
static void stage_loop(struct objstore_pipe *p, unsigned stage)
{
    unsigned *next = stage == STAGE_DIGEST ? &p->dnext : &p->wnext;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!(p->todo[*next] & stage) && !p->closing)
            pthread_cond_wait(&p->changed, &p->lock);
        if (!(p->todo[*next] & stage))
            break; /* closing, and nothing left */
        unsigned b = *next;
        size_t n = p->len[b];
        uint64_t off = p->off[b];
        pthread_mutex_unlock(&p->lock);
        int err = 0;
        if (stage == STAGE_DIGEST)
            digest(p->w, p->w->blocks[b], n);
        else
            err = write_block(p->w->fd, p->w->blocks[b], n, off);
        pthread_mutex_lock(&p->lock);
        if (err && !p->werr)
            p->werr = err;
        p->todo[b] &= ~stage;
        *next = (b + 1) % NBLOCKS;
        pthread_cond_broadcast(&p->changed);
    }
    pthread_mutex_unlock(&p->lock);
}

static void *digest_thread(void *arg)
{
    stage_loop(arg, STAGE_DIGEST);
    return NULL;
}

static void *write_thread(void *arg)
{
    stage_loop(arg, STAGE_WRITE);
    return NULL;
}

/* Waits for every handed-off block to be digested and written, and ends
 * the threads. Returns the write thread's errno, or 0. */
static int pipe_close(struct objstore_writer *w)
{
    struct objstore_pipe *p = w->pipe;
    int err;
    if (!p)
        return 0;
    pthread_mutex_lock(&p->lock);
    p->closing = true;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->digester, NULL);
    if (p->has_writer)
        pthread_join(p->writer, NULL);
    err = p->werr;
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->changed);
    mem_free(p);
    w->pipe = NULL;
    return err;
}

static void writer_free_digests(struct objstore_writer *w)
{
    pipe_close(w);
    for (size_t i = 0; i < NBLOCKS; i++) {
        mem_free(w->blocks[i]);
        w->blocks[i] = NULL;
    }
    w->npend = 0;
    EVP_MD_CTX_free(w->md5);
    EVP_MD_CTX_free(w->sha256);
    EVP_MD_CTX_free(w->sha1);
    w->md5 = w->sha256 = w->sha1 = NULL;
}

static EVP_MD_CTX *digest_new(const EVP_MD *md)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    KILN_ASSERT(c && EVP_DigestInit_ex(c, md, NULL) == 1);
    return c;
}

/* A block aligned for direct I/O. */
static uint8_t *block_alloc(void)
{
    return xmemalign(DIRECT_ALIGN, WRITE_BUF);
}

/* The writer's state once its file is open on fd. */
static void writer_init(struct objstore_writer *w, int fd, unsigned digests)
{
    w->fd = fd;
    w->digests = digests;
    w->blocks[0] = block_alloc();
    if (!(digests & OBJSTORE_NO_MD5))
        w->md5 = digest_new(EVP_md5());
    if (digests & OBJSTORE_SHA256)
        w->sha256 = digest_new(EVP_sha256());
    if (digests & OBJSTORE_SHA1)
        w->sha1 = digest_new(EVP_sha1());
    w->crc32 = (uint32_t)crc32(0L, Z_NULL, 0);
}

/*
 * A new object's file starts as an unnamed inode in its final directory
 * (O_TMPFILE) and gets its name only once its data is durable: a crash
 * or an abort leaves nothing behind, and concurrent PUTs do not all
 * create and rename entries in one shared directory. File systems
 * without O_TMPFILE get a named file under tmp/ instead.
 */
int objstore_writer_open(struct objstore *s, unsigned digests,
                         struct objstore_writer *w, struct kiln_diag *d)
{
    struct buf p = BUF_INIT(4096);
    int fd;

    memset(w, 0, sizeof(*w));
    make_id(w->id);
    buf_addf(&p, "%s/%.2s", s->root, w->id);
    fd = open(buf_cstr(&p), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    w->unnamed = fd >= 0;
    if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
        buf_reset(&p);
        tmp_path(s, w->id, &p);
        fd = open(buf_cstr(&p), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    }
    if (fd < 0) {
        int rc = diag_set(d, KILN_EIO, "cannot create '%s': %s", buf_cstr(&p),
                          strerror(errno));
        buf_release(&p);
        w->fd = -1;
        return rc;
    }
    buf_release(&p);
    writer_init(w, fd, digests);
    return 0;
}

/* Gives the durable file its name: links the unnamed inode, or renames
 * the named temp file. */
static int writer_name(struct objstore *s, struct objstore_writer *w,
                       const char *to)
{
    struct buf from = BUF_INIT(256);
    int rc;

    if (w->unnamed) {
        buf_addf(&from, "/proc/self/fd/%d", w->fd);
        rc = linkat(AT_FDCWD, buf_cstr(&from), AT_FDCWD, to, AT_SYMLINK_FOLLOW);
        if (rc != 0 && errno == ENOENT) /* no /proc: needs privilege */
            rc = linkat(w->fd, "", AT_FDCWD, to, AT_EMPTY_PATH);
    } else {
        tmp_path(s, w->id, &from);
        rc = rename(buf_cstr(&from), to);
    }
    buf_release(&from);
    return rc;
}

static void digest(struct objstore_writer *w, const void *data, size_t len)
{
    if (w->md5)
        EVP_DigestUpdate(w->md5, data, len);
    if (w->sha256)
        EVP_DigestUpdate(w->sha256, data, len);
    if (w->sha1)
        EVP_DigestUpdate(w->sha1, data, len);
    if (w->digests & OBJSTORE_CRC32) {
        const uint8_t *p = data;
        size_t left = len;
        while (left) {
            uInt n = left > (1u << 30) ? (1u << 30) : (uInt)left;
            w->crc32 = (uint32_t)crc32(w->crc32, p, n);
            p += n;
            left -= n;
        }
    }
    if (w->digests & OBJSTORE_CRC32C)
        w->crc32c = crc32c_update(w->crc32c, data, len);
}

/* The pipe, started at the first full block: the digest thread, and the
 * write thread when the file takes direct I/O (else NULL: digest here). */
static struct objstore_pipe *pipe_start(struct objstore_writer *w)
{
    struct objstore_pipe *p = xcalloc(1, sizeof(*p));
    int fl;

    p->w = w;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->changed, NULL);
    if (pthread_create(&p->digester, NULL, digest_thread, p) != 0) {
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->changed);
        mem_free(p);
        return NULL;
    }
    /* Direct I/O from here on where the file system has it (not tmpfs);
     * nothing has been written yet, so every offset stays aligned. */
    fl = fcntl(w->fd, F_GETFL);
    if (w->filed == 0 && w->base % DIRECT_ALIGN == 0 && fl >= 0 &&
        fcntl(w->fd, F_SETFL, fl | O_DIRECT) == 0) {
        if (pthread_create(&p->writer, NULL, write_thread, p) == 0) {
            p->has_writer = true;
            w->direct = true;
        } else {
            fcntl(w->fd, F_SETFL, fl);
        }
    }
    return p;
}

/* Hands the current block to the pipe (flush_pending starts it at the
 * first full block) or, without one, digests it here; then makes the next
 * free block current. Returns the write thread's errno, or 0. */
static int block_hand_off(struct objstore_writer *w)
{
    struct objstore_pipe *p = w->pipe;
    int err;

    if (!p) {
        digest(w, w->blocks[w->cur], w->npend);
        return 0;
    }
    pthread_mutex_lock(&p->lock);
    p->len[w->cur] = w->npend;
    p->off[w->cur] = w->base + w->filed;
    p->todo[w->cur] = STAGE_DIGEST | (w->direct ? STAGE_WRITE : 0);
    pthread_cond_broadcast(&p->changed);
    w->cur = (w->cur + 1) % (unsigned)NBLOCKS;
    while (p->todo[w->cur] != 0)
        pthread_cond_wait(&p->changed, &p->lock);
    err = p->werr;
    pthread_mutex_unlock(&p->lock);
    if (!w->blocks[w->cur])
        w->blocks[w->cur] = block_alloc();
    return err;
}

/* Writes the current block to the file (or has the write thread write
 * it) and has it digested. */
static int flush_pending(struct objstore_writer *w, struct kiln_diag *d)
{
    const uint8_t *p = w->blocks[w->cur];
    size_t left = w->npend;
    int err;

    if (!w->pipe && w->npend == WRITE_BUF)
        w->pipe = pipe_start(w);
    if (w->direct) {
        if (!w->npend)
            return 0;
        size_t n = w->npend;
        err = block_hand_off(w);
        w->filed += n;
        w->npend = 0;
        return err ? diag_set(d, KILN_EIO, "cannot write object data: %s",
                              strerror(err))
                   : 0;
    }
    while (left) {
        ssize_t n = pwrite(w->fd, p, left, (off_t)(w->base + w->filed));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return diag_set(d, KILN_EIO, "cannot write object data: %s",
                            strerror(errno));
        p += n;
        left -= (size_t)n;
        w->filed += (uint64_t)n;
    }
    if (w->npend)
        block_hand_off(w);
    w->npend = 0;
    /*
     * Writeback as the object arrives: start writing each finished
     * window to disk and wait for the one before it, so the fsync at
     * commit finds little left and a large PUT costs about the longer of
     * receiving and writing, not their sum. Best effort: fsync decides.
     */
    while (w->filed - w->queued >= WRITEBACK_WINDOW) {
        sync_file_range(w->fd, (off_t)(w->base + w->queued),
                        (off_t)WRITEBACK_WINDOW, SYNC_FILE_RANGE_WRITE);
        if (w->queued >= WRITEBACK_WINDOW)
            sync_file_range(
                w->fd, (off_t)(w->base + w->queued - WRITEBACK_WINDOW),
                (off_t)WRITEBACK_WINDOW,
                SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                    SYNC_FILE_RANGE_WAIT_AFTER);
        w->queued += WRITEBACK_WINDOW;
    }
    return 0;
}

int objstore_writer_write(struct objstore_writer *w, const void *data,
                          size_t len, struct kiln_diag *d)
{
    const uint8_t *p = data;

    if (w->limit && len > w->limit - w->size)
        return diag_set(d, KILN_EINCOMPLETE,
                        "The part is longer than its declared length.");
    w->size += len;
    while (len) {
        size_t n = WRITE_BUF - w->npend < len ? WRITE_BUF - w->npend : len;
        memcpy(w->blocks[w->cur] + w->npend, p, n);
        w->npend += n;
        p += n;
        len -= n;
        if (w->npend == WRITE_BUF && flush_pending(w, d) != 0)
            return KILN_EIO;
    }
    return 0;
}

int objstore_writer_append_blob(struct objstore *s, struct objstore_writer *w,
                                const char *id, uint64_t off, uint64_t len,
                                struct kiln_diag *d)
{
    int fd = -1, rc = objstore_blob_open(s, id, &fd);
    if (rc)
        return diag_set(d, KILN_EIO, "blob %s is missing", id);
    rc = objstore_writer_append_fd(w, fd, off, len, d);
    close(fd);
    return rc;
}

int objstore_writer_append_fd(struct objstore_writer *w, int fd, uint64_t off,
                              uint64_t len, struct kiln_diag *d)
{
    char *chunk;
    int rc = 0;

    /* Read and write (not copy_file_range, slower here on ext4 as well)
     * because the digests need the bytes anyway. Parts were written with
     * direct I/O, so this reads the disk: in large, sequential reads. */
    posix_fadvise(fd, (off_t)off, (off_t)len, POSIX_FADV_SEQUENTIAL);
    chunk = xmalloc(WRITE_BUF);
    while (len && rc == 0) {
        size_t want = len < WRITE_BUF ? (size_t)len : WRITE_BUF;
        ssize_t n = pread(fd, chunk, want, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = diag_set(d, KILN_EIO, "cannot read object data: %s",
                          n < 0 ? strerror(errno) : "it ends early");
            break;
        }
        rc = objstore_writer_write(w, chunk, (size_t)n, d);
        off += (uint64_t)n;
        len -= (uint64_t)n;
    }
    mem_free(chunk);
    return rc;
}

int objstore_writer_commit(struct objstore *s, struct objstore_writer *w,
                           struct kiln_diag *d)
{
    struct buf to = BUF_INIT(4096);
    unsigned int n;
    int rc = flush_pending(w, d), err;

    err = pipe_close(w); /* every block digested and written */
    if (err && !rc)
        rc = diag_set(d, KILN_EIO, "cannot write object data: %s",
                      strerror(err));
    if (w->md5)
        EVP_DigestFinal_ex(w->md5, w->md5_out, &n);
    if (w->sha256)
        EVP_DigestFinal_ex(w->sha256, w->sha256_out, &n);
    if (w->sha1)
        EVP_DigestFinal_ex(w->sha1, w->sha1_out, &n);
    writer_free_digests(w);
    if (w->as) {
        /* In place: durable where it is; the claim stays until settled. */
        if (!rc && fsync(w->fd) != 0)
            rc = diag_set(d, KILN_EIO, "cannot flush object data: %s",
                          strerror(errno));
        close(w->fd);
        w->fd = -1;
        if (rc)
            asm_release(s, w, false);
        return rc;
    }
    objstore_blob_path(s, w->id, &to);
    if (!rc && fsync(w->fd) != 0)
        rc = diag_set(d, KILN_EIO, "cannot flush object data: %s",
                      strerror(errno));
    if (!rc && writer_name(s, w, buf_cstr(&to)) != 0)
        rc = diag_set(d, KILN_EIO, "cannot store object data: %s",
                      strerror(errno));
    close(w->fd);
    w->fd = -1;
    if (rc && !w->unnamed) {
        buf_reset(&to);
        tmp_path(s, w->id, &to);
        unlink(buf_cstr(&to));
    }
    buf_release(&to);
    return rc;
}

void objstore_writer_abort(struct objstore *s, struct objstore_writer *w)
{
    struct buf p = BUF_INIT(4096);

    writer_free_digests(w);
    if (w->as) {
        if (w->fd >= 0)
            close(w->fd);
        w->fd = -1;
        asm_release(s, w, false);
    } else if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
        if (!w->unnamed) {
            tmp_path(s, w->id, &p);
            unlink(buf_cstr(&p));
        }
    }
    buf_release(&p);
}

/* ---- multipart assembly ------------------------------------------------ */

/* The upload's assembly, or NULL. Lock held. */
static struct objstore_asm *asm_find(struct objstore *s, const char *upload)
{
    struct objstore_asm *a = s->asms;
    while (a && strcmp(a->upload, upload) != 0)
        a = a->next;
    return a;
}

static bool asm_taken(const struct objstore_asm *a, int n)
{
    return a->taken[n / 8] >> (n % 8) & 1;
}

static void asm_take(struct objstore_asm *a, int n, bool on)
{
    if (on)
        a->taken[n / 8] |= (uint8_t)(1u << (n % 8));
    else
        a->taken[n / 8] &= (uint8_t) ~(1u << (n % 8));
}

/* Ends w's claim: its range holds a stored part (kept) or is free again. */
static void asm_release(struct objstore *s, struct objstore_writer *w,
                        bool kept)
{
    struct objstore_asm *a = w->as;
    bool last;

    pthread_mutex_lock(&s->lock);
    if (!kept)
        asm_take(a, w->part, false);
    a->inflight--;
    last = a->ended && a->inflight == 0;
    pthread_cond_broadcast(&s->settled);
    pthread_mutex_unlock(&s->lock);
    if (last)
        mem_free(a);
    w->as = NULL;
}

int objstore_part_open(struct objstore *s, const char *upload, int number,
                       uint64_t size, unsigned digests,
                       struct objstore_writer *w, struct kiln_diag *d)
{
    struct objstore_asm *a;
    struct buf p = BUF_INIT(4096);
    int fd;

    if (number < 1 || number > MAX_PARTS || size == 0 ||
        strlen(upload) >= sizeof(a->upload))
        return objstore_writer_open(s, digests, w, d);
    pthread_mutex_lock(&s->lock);
    a = asm_find(s, upload);
    if (!a) {
        a = xcalloc(1, sizeof(*a));
        str_copy(a->upload, upload, sizeof(a->upload));
        make_id(a->blob);
        a->next = s->asms;
        s->asms = a;
    }
    if (!a->stride && size >= OBJSTORE_MIN_STRIDE)
        a->stride = size;
    if (a->closing || !a->stride || size > a->stride || asm_taken(a, number) ||
        (uint64_t)(number - 1) * a->stride + size > MAX_ASM_BYTES) {
        pthread_mutex_unlock(&s->lock);
        return objstore_writer_open(s, digests, w, d);
    }
    /* Opened under the lock, so an abort cannot unlink the file between
     * the claim and the open. A crash before any part row refers to it
     * leaves an orphan the sweep removes. */
    objstore_blob_path(s, a->blob, &p);
    fd = open(buf_cstr(&p), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        int rc = diag_set(d, KILN_EIO, "cannot create '%s': %s", buf_cstr(&p),
                          strerror(errno));
        pthread_mutex_unlock(&s->lock);
        buf_release(&p);
        return rc;
    }
    buf_release(&p);
    asm_take(a, number, true);
    a->inflight++;
    memset(w, 0, sizeof(*w));
    str_copy(w->id, a->blob, sizeof(w->id));
    w->as = a;
    w->part = number;
    w->base = (uint64_t)(number - 1) * a->stride;
    w->limit = size;
    pthread_mutex_unlock(&s->lock);
    writer_init(w, fd, digests);
    return 0;
}

/* True while `id` is the assembly of an upload not yet ended. */
static bool asm_live(struct objstore *s, const char *id)
{
    bool live = false;
    pthread_mutex_lock(&s->lock);
    for (struct objstore_asm *a = s->asms; a && !live; a = a->next)
        live = strcmp(a->blob, id) == 0;
    pthread_mutex_unlock(&s->lock);
    return live;
}

void objstore_writer_settle(struct objstore *s, struct objstore_writer *w,
                            bool kept, const char *replaced)
{
    if (w->as)
        asm_release(s, w, kept);
    else if (!kept)
        objstore_blob_unlink(s, w->id);
    if (kept && replaced && *replaced && !asm_live(s, replaced))
        objstore_blob_unlink(s, replaced);
}

/* How long a completion waits for parts still arriving. It must not wait
 * for ever: with a thread pool, the part's connection may be served by
 * the very thread that waits. */
#define CLOSE_WAIT_SECONDS 2

bool objstore_upload_close(struct objstore *s, const char *upload)
{
    struct objstore_asm *a;
    struct timespec until;
    bool idle = true;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += CLOSE_WAIT_SECONDS;
    pthread_mutex_lock(&s->lock);
    a = asm_find(s, upload);
    if (a) {
        a->closing++;
        while (a->inflight &&
               pthread_cond_timedwait(&s->settled, &s->lock, &until) == 0)
            ;
        idle = a->inflight == 0;
    }
    pthread_mutex_unlock(&s->lock);
    return idle;
}

void objstore_upload_reopen(struct objstore *s, const char *upload)
{
    struct objstore_asm *a;

    pthread_mutex_lock(&s->lock);
    a = asm_find(s, upload);
    if (a && a->closing)
        a->closing--;
    pthread_mutex_unlock(&s->lock);
}

void objstore_upload_end(struct objstore *s, const char *upload,
                         const char *kept)
{
    struct objstore_asm **pp, *a = NULL;
    char blob[META_BLOB_ID] = "";
    bool now = false;

    pthread_mutex_lock(&s->lock);
    for (pp = &s->asms; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->upload, upload) == 0) {
            a = *pp;
            *pp = a->next;
            a->ended = true;
            now = a->inflight == 0;
            str_copy(blob, a->blob, sizeof(blob));
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
    if (blob[0] && !(kept && strcmp(blob, kept) == 0))
        objstore_blob_unlink(s, blob);
    if (now)
        mem_free(a);
}

int objstore_blob_seal(struct objstore *s, const char *id, uint64_t size,
                       struct kiln_diag *d)
{
    struct buf p = BUF_INIT(4096);
    struct stat st;
    int fd, rc = 0;

    objstore_blob_path(s, id, &p);
    fd = open(buf_cstr(&p), O_WRONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0)
        rc = diag_set(d, KILN_EIO, "cannot open blob %s: %s", id,
                      strerror(errno));
    else if ((uint64_t)st.st_size < size)
        rc = diag_set(d, KILN_EIO, "blob %s is shorter than its parts", id);
    else if (((uint64_t)st.st_size > size && ftruncate(fd, (off_t)size) != 0) ||
             fsync(fd) != 0)
        rc = diag_set(d, KILN_EIO, "cannot seal blob %s: %s", id,
                      strerror(errno));
    if (fd >= 0)
        close(fd);
    buf_release(&p);
    return rc;
}

int objstore_blob_open(struct objstore *s, const char *id, int *fd)
{
    struct buf p = BUF_INIT(4096);
    objstore_blob_path(s, id, &p);
    *fd = open(buf_cstr(&p), O_RDONLY | O_CLOEXEC);
    buf_release(&p);
    return *fd < 0 ? KILN_ENOTFOUND : 0;
}

int objstore_blob_link(struct objstore *s, const char *id,
                       char new_id[META_BLOB_ID], struct kiln_diag *d)
{
    struct buf from = BUF_INIT(4096), to = BUF_INIT(4096);
    int rc = 0;

    make_id(new_id);
    objstore_blob_path(s, id, &from);
    objstore_blob_path(s, new_id, &to);
    if (link(buf_cstr(&from), buf_cstr(&to)) != 0)
        rc = errno == ENOENT
                 ? KILN_CONTINUE
                 : diag_set(d, KILN_EIO, "cannot copy object data: %s",
                            strerror(errno));
    buf_release(&from);
    buf_release(&to);
    return rc;
}

void objstore_blob_unlink(struct objstore *s, const char *id)
{
    struct buf p = BUF_INIT(4096);
    if (!id || !*id)
        return;
    objstore_blob_path(s, id, &p);
    if (unlink(buf_cstr(&p)) != 0 && errno != ENOENT)
        log_warn("event=blob_unlink id=%s error=\"%s\"", id, strerror(errno));
    buf_release(&p);
}

/* Commits w's blob and indexes it as bucket/key, replacing what was
 * there; on failure nothing is left behind. */
static int put_commit(struct objstore *s, struct objstore_writer *w,
                      const char *bucket, const char *key,
                      const char *content_type, struct kiln_diag *d)
{
    char etag[40], hex[33], old[META_BLOB_ID] = "";
    int rc = objstore_writer_commit(s, w, d);

    if (rc)
        return rc;
    str_hex(w->md5_out, 16, hex);
    snprintf(etag, sizeof(etag), "\"%s\"", hex);
    struct meta_object o = {
        .bucket = bucket,
        .key = key,
        .blob = w->id,
        .size = w->size,
        .etag = etag,
        .modified = tm_now(),
        .content_type = content_type ? content_type : "binary/octet-stream",
    };
    rc = meta_object_put(s->meta, &o, old, d);
    if (rc) {
        objstore_blob_unlink(s, w->id);
        return rc;
    }
    objstore_blob_unlink(s, old);
    return 0;
}

int objstore_put_path(struct objstore *s, const char *bucket, const char *key,
                      const char *path, const char *content_type,
                      struct kiln_diag *d)
{
    struct objstore_writer w;
    char chunk[1 << 16];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

    if (fd < 0)
        return diag_set(d, KILN_EIO, "cannot read %s: %s", path,
                        strerror(errno));
    rc = objstore_writer_open(s, 0, &w, d);
    while (!rc && (n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0) {
            rc = diag_set(d, KILN_EIO, "cannot read %s: %s", path,
                          strerror(errno));
            break;
        }
        rc = objstore_writer_write(&w, chunk, (size_t)n, d);
    }
    close(fd);
    if (rc) {
        objstore_writer_abort(s, &w);
        return rc;
    }
    return put_commit(s, &w, bucket, key, content_type, d);
}

int objstore_put_data(struct objstore *s, const char *bucket, const char *key,
                      const void *data, size_t len, const char *content_type,
                      struct kiln_diag *d)
{
    struct objstore_writer w;
    int rc = objstore_writer_open(s, 0, &w, d);

    if (!rc && len)
        rc = objstore_writer_write(&w, data, len, d);
    if (rc) {
        objstore_writer_abort(s, &w);
        return rc;
    }
    return put_commit(s, &w, bucket, key, content_type, d);
}

int objstore_uri_split(const char *uri, char *bucket, size_t bsize,
                       const char **key)
{
    if (!uri || !str_starts(uri, "s3://"))
        return KILN_EINVAL;
    const char *p = uri + 5, *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if (n == 0 || n >= bsize)
        return KILN_EINVAL;
    memcpy(bucket, p, n);
    bucket[n] = '\0';
    *key = slash ? slash + 1 : "";
    return 0;
}

static int blob_of(void *ctx, const struct meta_object *o)
{
    str_copy(ctx, o->blob, META_BLOB_ID);
    return 0;
}

int objstore_link_object(struct objstore *s, const char *bucket,
                         const char *key, const char *dest, struct kiln_diag *d)
{
    char blob[META_BLOB_ID];
    struct buf src = BUF_INIT(4096);
    int rc = 0;

    for (int attempt = 0; attempt < 3; attempt++) {
        if (meta_object_get(s->meta, bucket, key, blob_of, blob) != 0)
            return diag_set(d, KILN_ENOTFOUND, "s3://%s/%s does not exist",
                            bucket, key);
        buf_reset(&src);
        objstore_blob_path(s, blob, &src);
        /* Whatever dest was is replaced, never written through: it may
         * itself be a link to this very blob (a second channel of the same
         * name), and truncating it would empty the stored object. */
        if (unlink(dest) != 0 && errno != ENOENT)
            return diag_set(d, KILN_EIO, "cannot replace %s: %s", dest,
                            strerror(errno));
        if (link(buf_cstr(&src), dest) == 0)
            goto out;
        if (errno != ENOENT)
            break; /* e.g. EXDEV: fall back to a copy */
    }
    {
        int in = open(buf_cstr(&src), O_RDONLY | O_CLOEXEC);
        int outfd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        char chunk[1 << 16];
        ssize_t n;
        if (in < 0 || outfd < 0)
            rc = diag_set(d, KILN_EIO, "cannot copy s3://%s/%s to %s: %s",
                          bucket, key, dest, strerror(errno));
        while (!rc && (n = read(in, chunk, sizeof(chunk))) > 0)
            if (write(outfd, chunk, (size_t)n) != n)
                rc = diag_set(d, KILN_EIO, "cannot write %s", dest);
        if (in >= 0)
            close(in);
        if (outfd >= 0)
            close(outfd);
    }
out:
    buf_release(&src);
    return rc;
}

int objstore_open_object(struct objstore *s, const char *bucket,
                         const char *key, int *fd, struct kiln_diag *d)
{
    char blob[META_BLOB_ID];
    for (int attempt = 0; attempt < 3; attempt++) {
        if (meta_object_get(s->meta, bucket, key, blob_of, blob) != 0)
            break;
        if (objstore_blob_open(s, blob, fd) == 0)
            return 0;
    }
    return diag_set(d, KILN_ENOTFOUND, "s3://%s/%s does not exist", bucket,
                    key);
}

int objstore_delete_object(struct objstore *s, const char *bucket,
                           const char *key)
{
    char old[META_BLOB_ID] = "";
    int rc = meta_object_delete(s->meta, bucket, key, old);
    if (rc == 0)
        objstore_blob_unlink(s, old);
    return rc;
}
