/*
 * image.h - bring-your-own container images without Docker.
 *
 * `docker save` (or `podman save`) writes an image as a tar holding
 * manifest.json ([{"Config": ..., "RepoTags": [...], "Layers": [...]}]),
 * the image config and one tar per layer; Docker 25 and later put them in
 * an OCI layout inside the same tar and keep manifest.json. image_load
 * unpacks such an archive into <data-dir>/images/<id>/rootfs, applying the
 * layers in order with their whiteouts (".wh.<name>" deletes a lower
 * layer's file, ".wh..wh..opq" empties a directory). Each layer is
 * extracted by a child process chrooted into the root file system, so a
 * symbolic link in the image (even an absolute one) resolves inside it,
 * never on the host. Device files are skipped, and so are set-user-ID and
 * set-group-ID bits. <id> is the SHA-256 of the image config, as Docker's
 * image id.
 *
 * References name images as SageMaker users write them:
 * "<account>.dkr.ecr.<region>.amazonaws.com/my-algo:1", "my-algo:1",
 * "docker.io/library/x" all match by repository path and tag (the
 * registry host and Docker Hub's "library/" are dropped, the tag defaults
 * to "latest"). <data-dir>/images/index.json maps them to ids; it is
 * replaced atomically, so a server reads it while `kiln admin images
 * load` writes it.
 */
#ifndef KILN_JOBS_IMAGE_H
#define KILN_JOBS_IMAGE_H

#include <jansson.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/strv.h"

struct image {
    char id[65];
    struct buf rootfs; /* the root file system's directory */
    json_t *config;    /* the config's "config": Entrypoint, Cmd, Env,
                          WorkingDir (an empty object when absent) */
};

/*
 * Loads every image of the archive at `path`. Each gets the references
 * of its RepoTags and those of `tags` (NULL-ended, may be NULL). The
 * references given are appended to `loaded` as "<reference> <id>".
 */
int image_load(const char *data_dir, const char *path, const char *const *tags,
               struct strv *loaded, struct kiln_diag *d);

/* The image `ref` names; KILN_ENOTFOUND when none does. image_release
 * after success. */
int image_find(const char *data_dir, const char *ref, struct image *out,
               struct kiln_diag *d);
void image_release(struct image *im);

/*
 * The file an archive's member name stands for, as a path relative to
 * the archive's top that never leaves it: ".", "..", and the archive's
 * symbolic and hard links (`links`: member name -> target, relative to
 * the member's directory, or "/"-rooted at the top) followed, 16 at
 * most. False when the name climbs out or the links do not end. Pure.
 */
bool image_archive_path(json_t *links, const char *name, struct buf *out);

/* The reference as the index keys it ("repo/path:tag"), into out. */
void image_ref_normalize(const char *ref, struct buf *out);

/* Appends "<reference> <id>" for every reference of the index. */
int image_list(const char *data_dir, struct strv *out, struct kiln_diag *d);

/* Forgets reference `ref` (the image's files stay while another
 * reference names it). KILN_ENOTFOUND when no image has it. */
int image_remove(const char *data_dir, const char *ref, struct kiln_diag *d);

#endif
