/*
 * algo.c - `kiln algo <name> train|serve`: the built-in algorithms, run
 * under the same container contract as bring-your-own images.
 *
 * The registry is a table; it is empty until the first built-in algorithm
 * (k-means, issue F4) lands, so every name is unknown for now.
 */
#include "cmd/cmd.h"

struct algo_entry {
    const char *name;
    int (*run)(int argc, char **argv);
};

static const struct algo_entry algos[] = {
    {NULL, NULL},
};

int cmd_algo(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "list") == 0) {
        for (size_t i = 0; algos[i].name; i++)
            printf("%s\n", algos[i].name);
        return argc < 1 ? 2 : 0;
    }
    for (size_t i = 0; algos[i].name; i++)
        if (strcmp(algos[i].name, argv[0]) == 0)
            return algos[i].run(argc - 1, argv + 1);
    fprintf(stderr, "kiln algo: unknown algorithm '%s'\n", argv[0]);
    return 2;
}
