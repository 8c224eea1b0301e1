/*
 * builtins.c - the registry of built-in algorithms (ARCHITECTURE.md: a
 * built-in is only a registry entry mapping image names to `kiln algo`).
 */
#include "cmd/cmd.h"

static const struct cmd_builtin builtins[] = {
    {"kmeans",
     {{"train:msd", "#quality_metric: host=\\S+, train msd <loss>=(\\S+)"},
      {"test:msd", "#quality_metric: host=\\S+, test msd <loss>=(\\S+)"},
      {"test:ssd", "#quality_metric: host=\\S+, test ssd <loss>=(\\S+)"},
      {"train:progress", "#progress_metric: host=\\S+, completed (\\S+) %"},
      {"train:throughput", "#throughput_metric: host=\\S+, train "
                           "throughput=(\\S+) records/second"}}},
};

const struct cmd_builtin *cmd_builtin_for(const char *image)
{
    const char *slash = image ? strrchr(image, '/') : NULL;
    const char *name = slash ? slash + 1 : image;
    size_t n;

    if (!name)
        return NULL;
    n = strcspn(name, ":@");
    for (size_t i = 0; i < KILN_ARRAY_LEN(builtins); i++)
        if (strlen(builtins[i].name) == n &&
            strncmp(builtins[i].name, name, n) == 0)
            return &builtins[i];
    return NULL;
}
