/* The subcommands of the lpsparsify executable.
 *
 * To add a command: write src/cli/<name>.c with its run and help functions,
 * declare them below, and add one line to the table in commands.c. The
 * dispatcher (main.c) handles the global options, finds the command and
 * resets getopt before calling run, so run can use getopt_long directly. */
#ifndef LPS_CLI_COMMANDS_H
#define LPS_CLI_COMMANDS_H

#include <stddef.h>
#include <stdio.h>

/* The command run for `lpsparsify MODEL ...` (no subcommand name), once
 * some file registers it in the table. */
#define LPS_DEFAULT_COMMAND "sparsify"

typedef struct lps_command {
    const char *name;     /* as typed: "inspect" */
    const char *summary;  /* one line for `lpsparsify --help` */
    /* Runs the command. argv[0] is the command name, argv[1..argc) its
     * arguments. Returns the process exit code (lps_status_exit_code). */
    int (*run)(int argc, char **argv);
    /* Prints the command's --help text. */
    void (*help)(FILE *out);
} lps_command;

/* The registered commands, in the order --help lists them. */
const lps_command *lps_cli_commands(size_t *count);

/* The command called name, or NULL. */
const lps_command *lps_cli_find_command(const char *name);

int lps_cmd_inspect(int argc, char **argv);
void lps_cmd_inspect_help(FILE *out);
int lps_cmd_eval(int argc, char **argv);
void lps_cmd_eval_help(FILE *out);
int lps_cmd_run(int argc, char **argv);
void lps_cmd_run_help(FILE *out);
int lps_cmd_train(int argc, char **argv);
void lps_cmd_train_help(FILE *out);
int lps_cmd_report(int argc, char **argv);
void lps_cmd_report_help(FILE *out);
int lps_cmd_sensitivity(int argc, char **argv);
void lps_cmd_sensitivity_help(FILE *out);
int lps_cmd_sparsify(int argc, char **argv);
void lps_cmd_sparsify_help(FILE *out);

#endif
