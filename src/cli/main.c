/* lpsparsify: global options and subcommand dispatch. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/par.h"
#include "core/runtime_env.h"
#include "train/dist.h"

#define MODEL_SUFFIX ".onnx"

/* The top-level --help text, listing the registered commands. */
static void print_usage(FILE *out)
{
    fprintf(out,
            "Usage: %s MODEL --target S [options]   sparsify MODEL (the default command)\n"
            "       %s COMMAND [options] [args]\n"
            "       %s --help | --version\n\nCommands:\n",
            LPS_PROGRAM, LPS_PROGRAM, LPS_PROGRAM);
    size_t n;
    const lps_command *cmds = lps_cli_commands(&n);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "  %-12s%s\n", cmds[i].name, cmds[i].summary);
    fprintf(out,
            "\n'%s COMMAND --help' describes a command. Exit codes: 0 success, 1 runtime\n"
            "failure, 2 bad usage or bad input, 3 accuracy guard tripped, 130 interrupted.\n"
            "Documentation: docs/cli.md, docs/report.md.\n",
            LPS_PROGRAM);
}

/* A first argument that is no command name but names a model: it ends in
 * .onnx or is an existing file. */
static bool looks_like_model(const char *arg)
{
    size_t len = strlen(arg), suffix = strlen(MODEL_SUFFIX);
    struct stat st;
    return (len > suffix && strcmp(arg + len - suffix, MODEL_SUFFIX) == 0) ||
           (stat(arg, &st) == 0 && S_ISREG(st.st_mode));
}

/* Runs cmd on argv[0..argc) (argv[0] becomes the command's name). */
static int run_command(const lps_command *cmd, int argc, char **argv)
{
    /* optind = 0 makes glibc's getopt start afresh for the command. */
    optind = 0;
    return cmd->run(argc, argv);
}

/* `lpsparsify MODEL ...`: hands everything from MODEL on to the default
 * command, called as if the user had typed its name first. */
static int run_default(int argc, char **argv)
{
    const lps_command *cmd = lps_cli_find_command(LPS_DEFAULT_COMMAND);
    if (!cmd) {
        fprintf(stderr, "%s: %s: sparsifying is not available in this build; "
                "'%s inspect %s' shows its prunable weights\n",
                LPS_PROGRAM, argv[0], LPS_PROGRAM, argv[0]);
        return LPS_EXIT_USAGE;
    }
    /* argv has a slot before argv[0] (the program name): reuse it for the
     * command name so the model stays a positional argument. */
    char **shifted = argv - 1;
    shifted[0] = (char *)cmd->name;
    return run_command(cmd, argc + 1, shifted);
}

static int dispatch(int argc, char **argv);

/* Under mpirun every rank runs the same command (docs/distributed.md). A
 * failure on any rank, reported by that rank in one line, ends the whole
 * job with its exit code (MPI_Abort); nothing was written, since only rank
 * 0 writes and it writes last. */
int main(int argc, char **argv)
{
    /* OpenMP workers sleep between parallel regions instead of spinning
     * against the threads with work (a spinning pool made steps many times
     * slower on a loaded machine, docs/benchmarks.md); the user's
     * OMP_WAIT_POLICY wins; the same re-execution names the OpenBLAS core
     * the CPU can run when OpenBLAS picked one without AVX2 (core/runtime_env.h) */
    lps_default_runtime_env(argv);
    lps_error err = {0};
    if (lps_dist_init(&argc, &argv, &err) != LPS_OK)
        return lps_cli_report(&err);
    int code = dispatch(argc, argv);
    if (code != 0)
        lps_dist_abort(code);
    lps_dist_finalize();
    return code;
}

static int dispatch(int argc, char **argv)
{
    static const struct option options[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    int c;
    /* '+': stop at the first non-option, the command or the model. */
    while ((c = getopt_long(argc, argv, "+:hV", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            print_usage(stdout);
            return 0;
        case 'V':
            printf("%s %s\n", LPS_PROGRAM, LPS_VERSION);
            return 0;
        default:
            return lps_cli_option_error(NULL, c, argv);
        }
    }
    if (optind >= argc) {
        print_usage(stderr);
        return LPS_EXIT_USAGE;
    }
    const char *first = argv[optind];
    const lps_command *cmd = lps_cli_find_command(first);
    if (cmd)
        return run_command(cmd, argc - optind, argv + optind);
    if (looks_like_model(first))
        return run_default(argc - optind, argv + optind);
    return lps_cli_usage_error(NULL, "unknown command '%s'", first);
}
