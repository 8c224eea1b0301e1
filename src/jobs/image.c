/*
 * image.c - `docker save` archives unpacked into root file systems (see
 * image.h).
 */
#include "jobs/image.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fsx.h"
#include "base/mem.h"
#include "base/str.h"

#define JSON_MAX  ((size_t)16 << 20) /* manifest.json and configs */
#define LINK_HOPS 16

/* ---- references and the index --------------------------------------- */

void image_ref_normalize(const char *ref, struct buf *out)
{
    const char *p = ref ? ref : "";
    const char *slash = strchr(p, '/');

    if (slash) {
        size_t n = (size_t)(slash - p);
        if (memchr(p, '.', n) || memchr(p, ':', n) ||
            (n == 9 && strncmp(p, "localhost", 9) == 0))
            p = slash + 1;
    }
    if (str_starts(p, "library/"))
        p += 8;
    buf_adds(out, p);
    const char *last = strrchr(p, '/');
    last = last ? last + 1 : p;
    if (!strchr(last, ':') && !strchr(last, '@'))
        buf_adds(out, ":latest");
}

static void images_dir(const char *data_dir, const char *sub, struct buf *out)
{
    buf_reset(out);
    buf_addf(out, "%s/images%s%s", data_dir, sub ? "/" : "", sub ? sub : "");
}

static json_t *index_read(const char *data_dir)
{
    struct buf p = BUF_INIT(8192);
    images_dir(data_dir, "index.json", &p);
    json_t *ix = json_load_file(buf_cstr(&p), 0, NULL);
    buf_release(&p);
    if (!json_is_object(ix)) {
        json_decref(ix);
        ix = json_object();
    }
    return ix;
}

/* Temp file, fsync, rename: a reader sees the old index or the new. */
static int index_write(const char *data_dir, json_t *ix, struct kiln_diag *d)
{
    struct buf p = BUF_INIT(8192), tmp = BUF_INIT(8192);
    char *text = json_dumps(ix, JSON_INDENT(2) | JSON_SORT_KEYS);
    int rc = 0, fd;

    images_dir(data_dir, "index.json", &p);
    buf_addf(&tmp, "%s.tmp-%ld", buf_cstr(&p), (long)getpid());
    fd = open(buf_cstr(&tmp), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || !text ||
        write(fd, text, strlen(text)) != (ssize_t)strlen(text) ||
        fsync(fd) != 0)
        rc = diag_set(d, KILN_EIO, "cannot write %s: %s", buf_cstr(&tmp),
                      strerror(errno));
    if (fd >= 0)
        close(fd);
    if (!rc && rename(buf_cstr(&tmp), buf_cstr(&p)) != 0)
        rc = diag_set(d, KILN_EIO, "cannot replace %s: %s", buf_cstr(&p),
                      strerror(errno));
    if (rc)
        unlink(buf_cstr(&tmp));
    free(text); /* jansson's allocation; checksrc: allow */
    buf_release(&p);
    buf_release(&tmp);
    return rc;
}

/* ---- the outer archive ----------------------------------------------- */

/* Joins dir (an archive-relative directory, "" for the top) and rel,
 * resolving "." and ".."; false when the result leaves the archive. */
static bool join_inside(const char *dir, const char *rel, struct buf *out)
{
    struct buf in = BUF_INIT(8192);
    bool ok = true;

    buf_reset(out);
    if (rel[0] == '/')
        buf_adds(&in, rel + 1);
    else
        buf_addf(&in, "%s%s%s", dir, *dir ? "/" : "", rel);
    buf_addc(&in, '\0'); /* in.data is never NULL below */
    for (char *s = in.data, *tok; ok && *s; s = tok) {
        tok = strchr(s, '/');
        size_t n = tok ? (size_t)(tok - s) : strlen(s);
        tok = tok ? tok + 1 : s + n;
        if (n == 0 || (n == 1 && s[0] == '.'))
            continue;
        if (n == 2 && s[0] == '.' && s[1] == '.') {
            char *up = out->len ? strrchr(out->data, '/') : NULL;
            if (!out->len)
                ok = false;
            else if (up) {
                out->len = (size_t)(up - out->data);
                out->data[out->len] = '\0';
            } else
                buf_reset(out);
            continue;
        }
        if (out->len)
            buf_addc(out, '/');
        buf_add(out, s, n);
    }
    buf_release(&in);
    return ok && out->len > 0;
}

/* The file `name` stands for, following the archive's symbolic and hard
 * links (`links`: name -> target) within the archive. */
bool image_archive_path(json_t *links, const char *name, struct buf *out)
{
    struct buf cur = BUF_INIT(8192), dir = BUF_INIT(8192);
    bool ok = join_inside("", name, &cur);

    for (int hop = 0; ok && hop < LINK_HOPS; hop++) {
        const char *target =
            json_string_value(json_object_get(links, buf_cstr(&cur)));
        if (!target)
            break;
        buf_reset(&dir);
        const char *slash = strrchr(buf_cstr(&cur), '/');
        if (slash)
            buf_add(&dir, cur.data, (size_t)(slash - cur.data));
        ok = join_inside(buf_cstr(&dir), target, &cur);
        if (hop == LINK_HOPS - 1)
            ok = false;
    }
    buf_reset(out);
    if (ok)
        buf_adds(out, buf_cstr(&cur));
    buf_release(&cur);
    buf_release(&dir);
    return ok;
}

static int copy_to_file(struct archive *a, const char *path,
                        struct kiln_diag *d)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const void *p;
    size_t n;
    la_int64_t off;
    int r;

    if (fd < 0)
        return diag_set(d, KILN_EIO, "cannot create %s: %s", path,
                        strerror(errno));
    while ((r = archive_read_data_block(a, &p, &n, &off)) == ARCHIVE_OK) {
        if (pwrite(fd, p, n, (off_t)off) != (ssize_t)n) {
            close(fd);
            return diag_set(d, KILN_EIO, "cannot write %s: %s", path,
                            strerror(errno));
        }
    }
    close(fd);
    if (r != ARCHIVE_EOF)
        return diag_set(d, KILN_EINVAL, "the archive is damaged: %s",
                        archive_error_string(a));
    return 0;
}

/* Unpacks the outer archive's files into tmp; its links go to `links`. */
static int unpack_outer(const char *path, const char *tmp, json_t *links,
                        struct kiln_diag *d)
{
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    struct buf name = BUF_INIT(8192), dest = BUF_INIT(8192);
    int rc = 0, r;

    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK)
        rc = diag_set(d, KILN_EINVAL, "%s is not a tar archive: %s", path,
                      archive_error_string(a));
    while (!rc && (r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        if (!join_inside("", archive_entry_pathname(e), &name)) {
            if (archive_entry_filetype(e) == AE_IFDIR)
                continue; /* "./" */
            rc = diag_set(d, KILN_EINVAL,
                          "the archive names a file outside itself: %s",
                          archive_entry_pathname(e));
            break;
        }
        buf_reset(&dest);
        buf_addf(&dest, "%s/%s", tmp, buf_cstr(&name));
        if (archive_entry_hardlink(e)) {
            json_object_set_new(
                links, buf_cstr(&name),
                json_pack("s++", "/", archive_entry_hardlink(e)));
        } else if (archive_entry_filetype(e) == AE_IFLNK) {
            json_object_set_new(links, buf_cstr(&name),
                                json_string(archive_entry_symlink(e)));
        } else if (archive_entry_filetype(e) == AE_IFREG) {
            fsx_make_parents(dest.data, strlen(tmp));
            rc = copy_to_file(a, buf_cstr(&dest), d);
        }
    }
    if (!rc && r != ARCHIVE_EOF)
        rc = diag_set(d, KILN_EINVAL, "%s is not a tar archive: %s", path,
                      archive_error_string(a));
    archive_read_free(a);
    buf_release(&name);
    buf_release(&dest);
    return rc;
}

/* ---- layers, applied inside the root file system --------------------- */

/* A layer entry's path relative to the root, or false for one that
 * climbs out of it (or is the root itself). */
static bool layer_path(const char *name, struct buf *out)
{
    return join_inside("", name, out);
}

static void empty_dir(const char *dir)
{
    DIR *dp = opendir(dir);
    struct dirent *de;
    struct buf p = BUF_INIT(8192);

    while (dp && (de = readdir(dp)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        buf_reset(&p);
        buf_addf(&p, "%s/%s", dir, de->d_name);
        fsx_remove_tree(buf_cstr(&p));
    }
    if (dp)
        closedir(dp);
    buf_release(&p);
}

/* Pass one: the whiteouts, which delete what lower layers put there. */
static int apply_whiteouts(int fd, char *err, size_t size)
{
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    struct buf path = BUF_INIT(8192), target = BUF_INIT(8192);
    int r, rc = 0;

    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    if (archive_read_open_fd(a, fd, 1 << 16) != ARCHIVE_OK)
        rc = -1;
    while (!rc && (r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        if (!layer_path(archive_entry_pathname(e), &path))
            continue;
        char *base = strrchr(path.data, '/');
        base = base ? base + 1 : path.data;
        if (!str_starts(base, ".wh."))
            continue;
        buf_reset(&target);
        buf_add(&target, path.data, (size_t)(base - path.data));
        if (strcmp(base, ".wh..wh..opq") == 0) {
            empty_dir(target.len ? buf_cstr(&target) : ".");
        } else {
            buf_adds(&target, base + 4);
            fsx_remove_tree(buf_cstr(&target));
        }
    }
    if (!rc && r != ARCHIVE_EOF)
        rc = -1;
    if (rc)
        snprintf(err, size, "a layer is not a tar archive: %s",
                 archive_error_string(a));
    archive_read_free(a);
    buf_release(&path);
    buf_release(&target);
    return rc;
}

/* Pass two: everything else, extracted relative to the (chrooted) root. */
static int extract_layer(int fd, char *err, size_t size)
{
    struct archive *a = archive_read_new();
    struct archive *w = archive_write_disk_new();
    struct archive_entry *e;
    struct buf path = BUF_INIT(8192), link = BUF_INIT(8192);
    /* No ARCHIVE_EXTRACT_PERM: modes are kept under umask 022, but not
     * set-user-ID or set-group-ID bits, which would make an image's
     * programs privileged on the host. */
    int flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_UNLINK |
                ARCHIVE_EXTRACT_SECURE_NODOTDOT;
    int r, rc = 0;

    if (geteuid() == 0)
        flags |= ARCHIVE_EXTRACT_OWNER;
    archive_write_disk_set_options(w, flags);
    archive_write_disk_set_standard_lookup(w);
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    if (archive_read_open_fd(a, fd, 1 << 16) != ARCHIVE_OK)
        rc = -1;
    while (!rc && (r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        mode_t type = archive_entry_filetype(e);
        if (!layer_path(archive_entry_pathname(e), &path))
            continue;
        const char *base = strrchr(path.data, '/');
        base = base ? base + 1 : path.data;
        if (str_starts(base, ".wh.") || type == AE_IFCHR || type == AE_IFBLK ||
            type == AE_IFSOCK)
            continue;
        archive_entry_set_pathname(e, buf_cstr(&path));
        if (archive_entry_hardlink(e)) {
            if (!layer_path(archive_entry_hardlink(e), &link))
                continue;
            archive_entry_set_hardlink(e, buf_cstr(&link));
        }
        if (archive_write_header(w, e) != ARCHIVE_OK) {
            snprintf(err, size, "cannot write %s: %s", buf_cstr(&path),
                     archive_error_string(w));
            rc = -1;
            break;
        }
        const void *p;
        size_t n;
        la_int64_t off;
        while ((r = archive_read_data_block(a, &p, &n, &off)) == ARCHIVE_OK)
            if (archive_write_data_block(w, p, n, off) != ARCHIVE_OK)
                break;
        archive_write_finish_entry(w);
        r = ARCHIVE_OK;
    }
    if (!rc && r != ARCHIVE_EOF) {
        snprintf(err, size, "a layer is damaged: %s", archive_error_string(a));
        rc = -1;
    }
    archive_write_free(w);
    archive_read_free(a);
    buf_release(&path);
    buf_release(&link);
    return rc;
}

static bool write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    bool ok = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    if (fd >= 0)
        close(fd);
    return ok;
}

/* chroot(2), as root; otherwise inside a user namespace of its own, where
 * the caller is root. */
static int enter_root(const char *rootfs)
{
    char map[64];
    uid_t uid = getuid();
    gid_t gid = getgid();

    if (chroot(rootfs) == 0)
        return chdir("/");
    if (errno != EPERM || unshare(CLONE_NEWUSER) != 0)
        return -1;
    snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)uid);
    if (!write_text("/proc/self/uid_map", map))
        return -1;
    write_text("/proc/self/setgroups", "deny");
    snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)gid);
    if (!write_text("/proc/self/gid_map", map) || chroot(rootfs) != 0)
        return -1;
    return chdir("/");
}

/* Applies the layer in `layer` (NULL: only makes the mount points the
 * sandbox needs) to rootfs, in a child process chrooted there. */
static int in_root(const char *rootfs, const char *layer, struct kiln_diag *d)
{
    int fd = layer ? open(layer, O_RDONLY | O_CLOEXEC) : -1;
    int pipefd[2], status = 0;
    char err[512] = "";
    pid_t pid;

    if (layer && fd < 0)
        return diag_set(d, KILN_EIO, "cannot open %s: %s", layer,
                        strerror(errno));
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        if (fd >= 0)
            close(fd);
        return diag_set(d, KILN_EIO, "pipe: %s", strerror(errno));
    }
    pid = fork();
    if (pid == 0) {
        int rc = 0;
        close(pipefd[0]);
        umask(022);
        if (enter_root(rootfs) != 0) {
            snprintf(err, sizeof(err),
                     "cannot enter the image's root file system (%s): "
                     "loading images needs root or user namespaces",
                     strerror(errno));
            rc = -1;
        }
        if (!rc && fd >= 0) {
            rc = apply_whiteouts(fd, err, sizeof(err));
            if (!rc && lseek(fd, 0, SEEK_SET) != 0)
                rc = -1;
            if (!rc)
                rc = extract_layer(fd, err, sizeof(err));
        }
        if (!rc && fd < 0) {
            /* Mount points: bubblewrap cannot make them in a read-only
             * root. A link in the image's place is left alone. */
            static const char *const dirs[] = {"opt", "opt/ml", "proc",
                                               "dev", "tmp",    "sys"};
            for (size_t i = 0; i < KILN_ARRAY_LEN(dirs); i++)
                mkdir(dirs[i], 0755);
            chmod("tmp", 01777);
            /* And /etc/hosts, which a job's instances bind theirs on, as
             * Docker does. */
            mkdir("etc", 0755);
            int hosts = open("etc/hosts",
                             O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0644);
            if (hosts >= 0)
                close(hosts);
        }
        if (rc && write(pipefd[1], err, strlen(err)) < 0)
            rc = -1;
        _exit(rc ? 1 : 0);
    }
    close(pipefd[1]);
    if (fd >= 0)
        close(fd);
    if (pid < 0) {
        close(pipefd[0]);
        return diag_set(d, KILN_EIO, "fork: %s", strerror(errno));
    }
    ssize_t n = read(pipefd[0], err, sizeof(err) - 1);
    err[n > 0 ? n : 0] = '\0';
    close(pipefd[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return diag_set(d, KILN_EINVAL, "%s",
                        err[0] ? err : "unpacking a layer failed");
    return 0;
}

/* ---- loading ---------------------------------------------------------- */

static int read_small(const char *path, struct buf *out, struct kiln_diag *d)
{
    char chunk[65536];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

    if (fd < 0)
        return diag_set(d, KILN_EINVAL, "the archive has no %s", path);
    buf_init(out, JSON_MAX);
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        if (buf_add(out, chunk, (size_t)n) != 0) {
            rc = diag_set(d, KILN_ETOOBIG, "%s is too large", path);
            break;
        }
    close(fd);
    return rc;
}

/* Unpacks one image of the manifest into images/<id>; *id set. */
static int load_one(const char *data_dir, const char *tmp, json_t *links,
                    json_t *m, char id[65], struct kiln_diag *d)
{
    struct buf rel = BUF_INIT(8192), p = BUF_INIT(8192), cfg = BUF_INIT(0);
    struct buf dir = BUF_INIT(8192), root = BUF_INIT(8192);
    unsigned char md[SHA256_DIGEST_LENGTH];
    const char *config = json_string_value(json_object_get(m, "Config"));
    json_t *layers = json_object_get(m, "Layers"), *l;
    size_t i;
    int rc = 0;

    if (!config || !image_archive_path(links, config, &rel)) {
        rc = diag_set(d, KILN_EINVAL, "manifest.json names no Config");
        goto out;
    }
    buf_addf(&p, "%s/%s", tmp, buf_cstr(&rel));
    rc = read_small(buf_cstr(&p), &cfg, d);
    if (rc)
        goto out;
    SHA256((const unsigned char *)cfg.data, cfg.len, md);
    str_hex(md, sizeof(md), id);
    images_dir(data_dir, id, &dir);
    buf_reset(&p);
    buf_addf(&p, "%s/config.json", buf_cstr(&dir));
    if (access(buf_cstr(&p), F_OK) == 0)
        goto out; /* loaded before */
    /* Built beside its place, then renamed into it. */
    buf_reset(&p);
    buf_addf(&p, "%s.tmp-%ld", buf_cstr(&dir), (long)getpid());
    fsx_remove_tree(buf_cstr(&p));
    mkdir(buf_cstr(&p), 0755);
    buf_addf(&root, "%s/rootfs", buf_cstr(&p));
    mkdir(buf_cstr(&root), 0755);
    json_array_foreach(layers, i, l)
    {
        struct buf layer = BUF_INIT(8192);
        if (!json_is_string(l) ||
            !image_archive_path(links, json_string_value(l), &rel))
            rc = diag_set(d, KILN_EINVAL, "manifest.json: bad layer %zu", i);
        else
            buf_addf(&layer, "%s/%s", tmp, buf_cstr(&rel));
        if (!rc)
            rc = in_root(buf_cstr(&root), buf_cstr(&layer), d);
        buf_release(&layer);
        if (rc)
            break;
    }
    if (!rc)
        rc = in_root(buf_cstr(&root), NULL, d);
    if (!rc) {
        struct buf cpath = BUF_INIT(8192);
        buf_addf(&cpath, "%s/config.json", buf_cstr(&p));
        int fd = open(buf_cstr(&cpath),
                      O_WRONLY | O_CREAT | O_CLOEXEC | O_TRUNC, 0644);
        if (fd < 0 || write(fd, cfg.data, cfg.len) != (ssize_t)cfg.len ||
            fsync(fd) != 0)
            rc = diag_set(d, KILN_EIO, "cannot write %s", buf_cstr(&cpath));
        if (fd >= 0)
            close(fd);
        buf_release(&cpath);
    }
    if (!rc && rename(buf_cstr(&p), buf_cstr(&dir)) != 0)
        rc = diag_set(d, KILN_EIO, "cannot install image %s: %s", id,
                      strerror(errno));
    if (rc)
        fsx_remove_tree(buf_cstr(&p));
out:
    buf_release(&rel);
    buf_release(&p);
    buf_release(&cfg);
    buf_release(&dir);
    buf_release(&root);
    return rc;
}

int image_load(const char *data_dir, const char *path, const char *const *tags,
               struct strv *loaded, struct kiln_diag *d)
{
    struct buf tmp = BUF_INIT(8192), p = BUF_INIT(8192), text = BUF_INIT(0);
    struct buf ref = BUF_INIT(4096);
    json_t *links = json_object(), *manifest = NULL, *ix = NULL, *m;
    size_t i;
    int rc;

    images_dir(data_dir, NULL, &p);
    mkdir(data_dir, 0700);
    mkdir(buf_cstr(&p), 0755);
    buf_addf(&tmp, "%s/unpack-%ld", buf_cstr(&p), (long)getpid());
    fsx_remove_tree(buf_cstr(&tmp));
    mkdir(buf_cstr(&tmp), 0700);
    rc = unpack_outer(path, buf_cstr(&tmp), links, d);
    buf_reset(&p);
    buf_addf(&p, "%s/manifest.json", buf_cstr(&tmp));
    if (!rc)
        rc = read_small(buf_cstr(&p), &text, d);
    if (!rc) {
        manifest = json_loadb(text.data, text.len, 0, NULL);
        if (!json_is_array(manifest) || json_array_size(manifest) == 0)
            rc = diag_set(d, KILN_EINVAL,
                          "manifest.json is not a `docker save` manifest");
    }
    ix = index_read(data_dir);
    json_array_foreach(manifest, i, m)
    {
        char id[65];
        size_t k;
        json_t *t;
        if (rc)
            break;
        rc = load_one(data_dir, buf_cstr(&tmp), links, m, id, d);
        if (rc)
            break;
        json_array_foreach(json_object_get(m, "RepoTags"), k, t)
        {
            buf_reset(&ref);
            image_ref_normalize(json_string_value(t), &ref);
            json_object_set_new(ix, buf_cstr(&ref), json_string(id));
            strv_addf(loaded, "%s %s", buf_cstr(&ref), id);
        }
        for (k = 0; tags && tags[k]; k++) {
            buf_reset(&ref);
            image_ref_normalize(tags[k], &ref);
            json_object_set_new(ix, buf_cstr(&ref), json_string(id));
            strv_addf(loaded, "%s %s", buf_cstr(&ref), id);
        }
    }
    if (!rc)
        rc = index_write(data_dir, ix, d);
    fsx_remove_tree(buf_cstr(&tmp));
    json_decref(links);
    json_decref(manifest);
    json_decref(ix);
    buf_release(&tmp);
    buf_release(&p);
    buf_release(&text);
    buf_release(&ref);
    return rc;
}

/* ---- lookups ----------------------------------------------------------- */

int image_find(const char *data_dir, const char *ref, struct image *out,
               struct kiln_diag *d)
{
    struct buf key = BUF_INIT(4096), p = BUF_INIT(8192);
    json_t *ix = index_read(data_dir), *cfg = NULL;
    const char *id;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    buf_init(&out->rootfs, 8192);
    image_ref_normalize(ref, &key);
    id = json_string_value(json_object_get(ix, buf_cstr(&key)));
    if (!id || strlen(id) != 64 || strspn(id, "0123456789abcdef") != 64) {
        rc = diag_set(d, KILN_ENOTFOUND, "no image %s", buf_cstr(&key));
        goto out;
    }
    str_copy(out->id, id, sizeof(out->id));
    images_dir(data_dir, id, &p);
    buf_adds(&p, "/config.json");
    cfg = json_load_file(buf_cstr(&p), 0, NULL);
    if (!cfg) {
        rc = diag_set(d, KILN_ENOTFOUND, "image %s is damaged", id);
        goto out;
    }
    out->config = json_object_get(cfg, "config");
    out->config = out->config ? json_incref(out->config) : json_object();
    images_dir(data_dir, id, &out->rootfs);
    buf_adds(&out->rootfs, "/rootfs");
out:
    json_decref(cfg);
    json_decref(ix);
    buf_release(&key);
    buf_release(&p);
    if (rc)
        image_release(out);
    return rc;
}

void image_release(struct image *im)
{
    buf_release(&im->rootfs);
    json_decref(im->config);
    im->config = NULL;
}

int image_list(const char *data_dir, struct strv *out, struct kiln_diag *d)
{
    json_t *ix = index_read(data_dir), *v;
    const char *k;
    (void)d;
    json_object_foreach(ix, k, v)
        strv_addf(out, "%s %s", k, json_string_value(v));
    json_decref(ix);
    return 0;
}

int image_remove(const char *data_dir, const char *ref, struct kiln_diag *d)
{
    struct buf key = BUF_INIT(4096), p = BUF_INIT(8192);
    json_t *ix = index_read(data_dir), *v;
    const char *k;
    char id[65] = "";
    bool used = false;
    int rc = 0;

    image_ref_normalize(ref, &key);
    if (!json_is_string(json_object_get(ix, buf_cstr(&key)))) {
        rc = diag_set(d, KILN_ENOTFOUND, "no image %s", buf_cstr(&key));
        goto out;
    }
    str_copy(id, json_string_value(json_object_get(ix, buf_cstr(&key))),
             sizeof(id));
    json_object_del(ix, buf_cstr(&key));
    json_object_foreach(ix, k, v) used |= strcmp(json_string_value(v), id) == 0;
    rc = index_write(data_dir, ix, d);
    if (!rc && !used && strlen(id) == 64 &&
        strspn(id, "0123456789abcdef") == 64) {
        images_dir(data_dir, id, &p);
        fsx_remove_tree(buf_cstr(&p));
    }
out:
    json_decref(ix);
    buf_release(&key);
    buf_release(&p);
    return rc;
}
