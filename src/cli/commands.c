#include "cli/commands.h"

#include <string.h>

static const lps_command COMMANDS[] = {
    {"sparsify", "fine-tune and prune a model to a target sparsity (the default command)",
     lps_cmd_sparsify, lps_cmd_sparsify_help},
    {"inspect", "list the prunable weights of a model with their sparsity", lps_cmd_inspect,
     lps_cmd_inspect_help},
    {"eval", "accuracy, loss and throughput of a model on the evaluation split", lps_cmd_eval,
     lps_cmd_eval_help},
    {"train", "dense training or fine-tuning of every weight", lps_cmd_train, lps_cmd_train_help},
    {"report", "draw a self-contained HTML page from one or more JSON reports", lps_cmd_report,
     lps_cmd_report_help},
    {"run", "run a model on input tensors and write its raw outputs", lps_cmd_run,
     lps_cmd_run_help},
    {"sensitivity", "accuracy drop of each layer pruned alone; suggested per-layer targets",
     lps_cmd_sensitivity, lps_cmd_sensitivity_help},
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
