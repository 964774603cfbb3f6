#include "cli/cli_util.h"
#include "cli/progress.h"
#include "train/dist.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Data-parallel runs: an error every rank hits (a bad option, a missing
 * file) is printed once, by rank 0, which then ends the job (MPI_Abort:
 * the launcher sends the other ranks SIGTERM). The other ranks wait before
 * printing theirs and stay silent when the job is ended meanwhile, so
 * theirs is seen only when the error is theirs alone. Returns whether to
 * print. */
#define OTHER_RANK_ERROR_DELAY_SECONDS 2

static bool report_here(void)
{
    if (lps_dist_rank() == 0)
        return true;
    volatile sig_atomic_t *stop = lps_install_stop_handlers();
    struct timespec left = {OTHER_RANK_ERROR_DELAY_SECONDS, 0};
    while (!*stop && nanosleep(&left, &left) != 0 && errno == EINTR)
        continue;
    return !*stop;
}

int lps_cli_report(const lps_error *err)
{
    if (report_here())
        fprintf(stderr, "%s: %s\n", LPS_PROGRAM, err->msg[0] ? err->msg : lps_status_name(err->status));
    return lps_status_exit_code(err->status);
}

int lps_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    char msg[LPS_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!report_here())
        return LPS_EXIT_USAGE;
    if (cmd)
        fprintf(stderr, "%s: %s: %s (see '%s %s --help')\n", LPS_PROGRAM, cmd, msg, LPS_PROGRAM, cmd);
    else
        fprintf(stderr, "%s: %s (see '%s --help')\n", LPS_PROGRAM, msg, LPS_PROGRAM);
    return LPS_EXIT_USAGE;
}

int lps_cli_option_error(const char *cmd, int c, char **argv)
{
    /* For a missing value and for an unknown long option the offending
     * element is the one just before optind; an unknown short option inside
     * a cluster ("-xq") is only known through optopt. */
    char opt[LPS_ERROR_MSG_MAX];
    if (c == '?' && optopt)
        snprintf(opt, sizeof opt, "-%c", optopt);
    else
        snprintf(opt, sizeof opt, "%s", optind > 0 ? argv[optind - 1] : "?");
    if (c == ':')
        return lps_cli_usage_error(cmd, "option '%s' needs a value", opt);
    return lps_cli_usage_error(cmd, "unknown option '%s'", opt);
}

lps_status lps_cli_check_input_file(const char *path, lps_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return lps_fail(err, LPS_ERR_INVALID, "%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return lps_fail(err, LPS_ERR_INVALID, "%s: is a folder, not a model file", path);
    if (access(path, R_OK) != 0)
        return lps_fail(err, LPS_ERR_INVALID, "%s: %s", path, strerror(errno));
    return LPS_OK;
}

bool lps_cli_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

lps_status lps_cli_check_not_input(const char *output, const char *input, lps_error *err)
{
    if (lps_cli_same_file(output, input))
        return lps_fail(err, LPS_ERR_INVALID, "%s: would overwrite the input %s", output, input);
    return LPS_OK;
}
