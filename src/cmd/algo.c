/*
 * algo.c - `kiln algo <name> train|serve`: the built-in algorithms, run
 * under the same container contract as bring-your-own images.
 *
 *   kiln algo kmeans train                   container mode: paths from
 *                                            --input-dir/--model-dir/
 *                                            --output-dir or SM_* variables
 *   kiln algo kmeans train --data FILE [--test FILE] [--content-type T]
 *        --hp k=10 --hp feature_dim=784 --model-dir out/   standalone
 */
#include <jansson.h>

#include "algos/algo.h"
#include "algos/kmeans/train.h"
#include "cmd/cmd.h"

struct algo_entry {
    const char *name;
    int (*train)(const struct algo_args *a);
};

static const struct algo_entry algos[] = {
    {"kmeans", kmeans_train},
};

static int usage(void)
{
    fprintf(stderr,
            "usage: kiln algo NAME train [--data FILE [--test FILE] "
            "[--content-type TYPE] --hp KEY=VALUE ...] [--model-dir DIR] "
            "[--output-dir DIR] [--input-dir DIR]\n"
            "algorithms:");
    for (size_t i = 0; i < KILN_ARRAY_LEN(algos); i++)
        fprintf(stderr, " %s", algos[i].name);
    fprintf(stderr, "\n");
    return 2;
}

int cmd_algo(int argc, char **argv)
{
    struct kiln_config c;
    struct kiln_diag d = {0};
    struct algo_args a = {0};
    const struct algo_entry *e = NULL;
    int rest[256], nrest = 0, status = 2;
    json_t *hp = json_object();

    config_init(&c);
    if (argc > (int)KILN_ARRAY_LEN(rest) ||
        config_load(&c, argc, argv, rest, &nrest, &d) != 0) {
        fprintf(stderr, "kiln algo: %s\n", d.msg[0] ? d.msg : "bad options");
        goto out;
    }
    if (nrest >= 1 && strcmp(argv[rest[0]], "list") == 0) {
        for (size_t i = 0; i < KILN_ARRAY_LEN(algos); i++)
            printf("%s\n", algos[i].name);
        status = 0;
        goto out;
    }
    if (nrest < 2 || strcmp(argv[rest[1]], "train") != 0) {
        status = usage();
        goto out;
    }
    for (size_t i = 0; i < KILN_ARRAY_LEN(algos); i++)
        if (strcmp(algos[i].name, argv[rest[0]]) == 0)
            e = &algos[i];
    if (!e) {
        fprintf(stderr, "kiln algo: unknown algorithm '%s'\n", argv[rest[0]]);
        goto out;
    }
    for (int i = 2; i < nrest; i++) {
        const char *f = argv[rest[i]];
        const char *v = i + 1 < nrest ? argv[rest[i + 1]] : NULL;
        if (!v) {
            status = usage();
            goto out;
        }
        if (strcmp(f, "--data") == 0) {
            a.data = v;
        } else if (strcmp(f, "--test") == 0) {
            a.test = v;
        } else if (strcmp(f, "--content-type") == 0) {
            a.content_type = v;
        } else if (strcmp(f, "--hp") == 0) {
            const char *eq = strchr(v, '=');
            if (!eq) {
                fprintf(stderr, "kiln algo: --hp wants KEY=VALUE, not '%s'\n",
                        v);
                goto out;
            }
            char key[256];
            snprintf(key, sizeof(key), "%.*s", (int)(eq - v), v);
            json_object_set_new(hp, key, json_string(eq + 1));
        } else {
            status = usage();
            goto out;
        }
        i++;
    }
    a.input_dir = c.input_dir;
    a.model_dir = c.model_dir;
    a.output_dir = c.output_dir;
    a.hyperparameters = hp;
    status = e->train(&a);
out:
    json_decref(hp);
    config_release(&c);
    return status;
}
