#include "cli/commands.h"

#include <string.h>

static const lps_command COMMANDS[] = {
    {"inspect", "list the prunable weights of a model with their sparsity", lps_cmd_inspect,
     lps_cmd_inspect_help},
};

const lps_command *lps_cli_commands(size_t *count)
{
    *count = sizeof COMMANDS / sizeof COMMANDS[0];
    return COMMANDS;
}

const lps_command *lps_cli_find_command(const char *name)
{
    size_t n;
    const lps_command *cmds = lps_cli_commands(&n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(cmds[i].name, name) == 0)
            return &cmds[i];
    return NULL;
}
