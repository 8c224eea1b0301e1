/*
 * artifact.c - libarchive's writer walks the directory with nftw; the
 * reader checks every header before writing a byte.
 */
#include "formats/artifact.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mem.h"

#define MAX_ENTRIES 100000

/* "./name" and "name" name the same member. */
static bool str_same_member(const char *p, const char *name)
{
    if (p[0] == '.' && p[1] == '/')
        p += 2;
    return strcmp(p, name) == 0;
}

static struct archive *pack_archive; /* nftw has no context argument */
static size_t pack_root_len;
static int pack_rc;
static struct kiln_diag *pack_diag;

static int add_file(const char *fpath, const struct stat *st, int type,
                    struct FTW *ftw)
{
    struct archive_entry *e;
    char chunk[65536];
    ssize_t n;
    int fd;
    (void)ftw;

    if (type != FTW_F || !S_ISREG(st->st_mode))
        return 0;
    e = archive_entry_new();
    archive_entry_set_pathname(e, fpath + pack_root_len + 1);
    archive_entry_set_size(e, st->st_size);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_mtime(e, st->st_mtime, 0);
    if (archive_write_header(pack_archive, e) != ARCHIVE_OK) {
        pack_rc = diag_set(pack_diag, KILN_EIO, "cannot write archive: %s",
                           archive_error_string(pack_archive));
        archive_entry_free(e);
        return 1;
    }
    archive_entry_free(e);
    fd = open(fpath, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        pack_rc = diag_set(pack_diag, KILN_EIO, "cannot read '%s': %s", fpath,
                           strerror(errno));
        return 1;
    }
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        if (archive_write_data(pack_archive, chunk, (size_t)n) != n) {
            pack_rc = diag_set(pack_diag, KILN_EIO, "cannot write archive: %s",
                               archive_error_string(pack_archive));
            break;
        }
    close(fd);
    return pack_rc ? 1 : 0;
}

int artifact_pack(const char *dir, const char *path, struct kiln_diag *d)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    struct archive *a = archive_write_new();
    int rc;

    pthread_mutex_lock(&lock);
    archive_write_add_filter_gzip(a);
    archive_write_set_format_pax_restricted(a);
    if (archive_write_open_filename(a, path) != ARCHIVE_OK) {
        rc = diag_set(d, KILN_EIO, "cannot create '%s': %s", path,
                      archive_error_string(a));
        goto out;
    }
    pack_archive = a;
    pack_root_len = strlen(dir);
    while (pack_root_len > 1 && dir[pack_root_len - 1] == '/')
        pack_root_len--;
    pack_rc = 0;
    pack_diag = d;
    if (nftw(dir, add_file, 16, FTW_PHYS) != 0 && !pack_rc)
        pack_rc = diag_set(d, KILN_EIO, "cannot walk '%s'", dir);
    rc = pack_rc;
    if (archive_write_close(a) != ARCHIVE_OK && !rc)
        rc = diag_set(d, KILN_EIO, "cannot finish '%s': %s", path,
                      archive_error_string(a));
out:
    archive_write_free(a);
    pthread_mutex_unlock(&lock);
    return rc;
}

/* True for a relative path without "..", "." tricks or empty parts. */
static bool safe_path(const char *p)
{
    if (!*p || *p == '/')
        return false;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if ((n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        p += n;
        while (*p == '/')
            p++;
    }
    return true;
}

static struct archive *open_reader(void)
{
    struct archive *a = archive_read_new();
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_none(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    return a;
}

int artifact_extract(const char *path, const char *dest, uint64_t max_bytes,
                     struct kiln_diag *d)
{
    struct archive *a = open_reader();
    struct archive_entry *e;
    struct buf target = BUF_INIT(8192);
    uint64_t total = 0;
    int rc = 0, entries = 0, r;

    if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
        rc = diag_set(d, KILN_EINVAL, "cannot open model archive: %s",
                      archive_error_string(a));
        goto out;
    }
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        mode_t type = archive_entry_filetype(e);
        if (++entries > MAX_ENTRIES) {
            rc = diag_set(d, KILN_EINVAL, "the archive has too many entries");
            break;
        }
        if (!name || !safe_path(name)) {
            rc = diag_set(d, KILN_EINVAL,
                          "the archive entry '%s' points outside the model "
                          "directory",
                          name ? name : "");
            break;
        }
        if (type != AE_IFREG && type != AE_IFDIR) {
            rc = diag_set(d, KILN_EINVAL,
                          "the archive entry '%s' is not a regular file or "
                          "directory",
                          name);
            break;
        }
        buf_reset(&target);
        buf_addf(&target, "%s/%s", dest, name);
        if (type == AE_IFDIR) {
            if (mkdir(buf_cstr(&target), 0755) != 0 && errno != EEXIST) {
                rc = diag_set(d, KILN_EIO, "cannot create '%s'",
                              buf_cstr(&target));
                break;
            }
            continue;
        }
        /* Parent directories of a file may be implicit. */
        for (char *s = target.data + strlen(dest) + 1; (s = strchr(s, '/'));
             s++) {
            *s = '\0';
            mkdir(target.data, 0755);
            *s = '/';
        }
        int fd =
            open(buf_cstr(&target),
                 O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0) {
            rc = diag_set(d, KILN_EIO, "cannot create '%s': %s",
                          buf_cstr(&target), strerror(errno));
            break;
        }
        char chunk[65536];
        la_ssize_t n;
        while ((n = archive_read_data(a, chunk, sizeof(chunk))) > 0) {
            total += (uint64_t)n;
            if (total > max_bytes) {
                rc = diag_set(d, KILN_ETOOBIG,
                              "the archive expands to more than %llu bytes",
                              (unsigned long long)max_bytes);
                break;
            }
            if (write(fd, chunk, (size_t)n) != n) {
                rc = diag_set(d, KILN_EIO, "cannot write '%s'",
                              buf_cstr(&target));
                break;
            }
        }
        if (n < 0 && !rc)
            rc = diag_set(d, KILN_EINVAL, "the archive is corrupt: %s",
                          archive_error_string(a));
        close(fd);
        if (rc)
            break;
    }
    if (!rc && r != ARCHIVE_EOF)
        rc = diag_set(d, KILN_EINVAL, "the archive is corrupt: %s",
                      archive_error_string(a));
out:
    archive_read_free(a);
    buf_release(&target);
    return rc;
}

int artifact_member(const void *tgz, size_t len, const char *name,
                    struct buf *out, struct kiln_diag *d)
{
    struct archive *a = open_reader();
    struct archive_entry *e;
    int rc = KILN_ENOTFOUND, r;

    if (archive_read_open_memory(a, tgz, len) != ARCHIVE_OK) {
        rc = diag_set(d, KILN_EINVAL, "cannot open archive: %s",
                      archive_error_string(a));
        goto out;
    }
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *p = archive_entry_pathname(e);
        if (p && str_same_member(p, name)) {
            char chunk[65536];
            la_ssize_t n;
            rc = 0;
            while ((n = archive_read_data(a, chunk, sizeof(chunk))) > 0)
                if (buf_add(out, chunk, (size_t)n) != 0) {
                    rc = diag_set(d, KILN_ETOOBIG, "'%s' is too large", name);
                    break;
                }
            if (n < 0 && !rc)
                rc = diag_set(d, KILN_EINVAL, "the archive is corrupt: %s",
                              archive_error_string(a));
            break;
        }
    }
    if (rc == KILN_ENOTFOUND)
        diag_set(d, rc, "the archive has no '%s'", name);
out:
    archive_read_free(a);
    return rc;
}
