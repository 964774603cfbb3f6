/* lpsparsify run MODEL --input X.npy|X.pb [--input ...] --output Y.npy */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "lpsparsify/data.h"
#include "lpsparsify/engine.h"

#define MAX_RUN_INPUTS 16
#define NPY_SUFFIX ".npy"

void lps_cmd_run_help(FILE *out)
{
    fprintf(out,
            "Usage: %s run MODEL --input X.npy|X.pb [--input ...] --output Y.npy\n\n"
            "Runs MODEL once on the given inputs (one per graph input, in order; NPY or\n"
            "ONNX TensorProto files; none for a model without inputs) and writes the raw outputs as NPY: output 0 to\n"
            "Y.npy, output k > 0 to Y_k.npy.\n\n"
            "  -i, --input FILE   an input tensor (repeat for several inputs)\n"
            "  -o, --output FILE  where output 0 goes\n"
            "  -h, --help         show this help\n",
            LPS_PROGRAM);
}

/* "Y.npy" for k = 0, "Y_k.npy" otherwise (the suffix is added when absent). */
static char *output_path(const char *base, size_t k)
{
    size_t n = strlen(base), sl = strlen(NPY_SUFFIX);
    size_t stem = (n >= sl && strcmp(base + n - sl, NPY_SUFFIX) == 0) ? n - sl : n;
    char *p = malloc(n + sl + 24);
    if (!p)
        return NULL;
    if (k == 0)
        snprintf(p, n + sl + 24, "%.*s%s", (int)stem, base, NPY_SUFFIX);
    else
        snprintf(p, n + sl + 24, "%.*s_%zu%s", (int)stem, base, k, NPY_SUFFIX);
    return p;
}

/* A failed run leaves no output: removes the first n outputs it wrote. */
static void remove_outputs(const char *base, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        char *out = output_path(base, k);
        if (out)
            unlink(out);
        free(out);
    }
}

int lps_cmd_run(int argc, char **argv)
{
    static const struct option options[] = {
        {"input", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *inputs[MAX_RUN_INPUTS];
    lps_tensor tensors[MAX_RUN_INPUTS] = {0};
    size_t n_inputs = 0;
    const char *output = NULL;
    lps_error err = {0};
    lps_model *m = NULL;
    lps_plan *plan = NULL;
    lps_exec_ctx *ctx = NULL;
    int c, code;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hi:o:", options, NULL)) != -1) {
        if (c == 'h') {
            lps_cmd_run_help(stdout);
            return 0;
        } else if (c == 'i') {
            if (n_inputs == MAX_RUN_INPUTS)
                return lps_cli_usage_error(argv[0], "at most %d inputs", MAX_RUN_INPUTS);
            inputs[n_inputs++] = optarg;
        } else if (c == 'o') {
            output = optarg;
        } else {
            return lps_cli_option_error(argv[0], c, argv);
        }
    }
    if (optind + 1 != argc)
        return lps_cli_usage_error(argv[0], optind >= argc ? "no MODEL given"
                                                           : "exactly one MODEL is expected");
    /* A model without graph inputs (all constants) takes no --input. */
    if (!output)
        return lps_cli_usage_error(argv[0], "--output is required");
    const char *path = argv[optind];
    if (lps_cli_check_input_file(path, &err) != LPS_OK ||
        lps_cli_check_not_input(output, path, &err) != LPS_OK)
        goto failed;
    for (size_t i = 0; i < n_inputs; i++)
        if (lps_cli_check_not_input(output, inputs[i], &err) != LPS_OK)
            goto failed;
    if (!(m = lps_model_load(path, &err)) || !(plan = lps_plan_compile(m, NULL, &err)))
        goto failed;
    if (n_inputs != lps_plan_n_inputs(plan)) {
        lps_fail(&err, LPS_ERR_INVALID, "%s: the model has %zu inputs, %zu were given", path,
                 lps_plan_n_inputs(plan), n_inputs);
        goto failed;
    }
    for (size_t i = 0; i < n_inputs; i++)
        if (lps_tensor_read_file(inputs[i], &tensors[i], &err) != LPS_OK ||
            lps_plan_set_input(plan, i, &tensors[i], &err) != LPS_OK)
            goto failed;
    if (!(ctx = lps_exec_ctx_new(NULL, &err)) || lps_plan_forward(plan, ctx, &err) != LPS_OK)
        goto failed;
    for (size_t k = 0; k < lps_plan_n_outputs(plan); k++) {
        char *out = output_path(output, k);
        lps_status st = out ? lps_npy_write(out, lps_plan_output(plan, k), &err)
                            : lps_fail(&err, LPS_ERR_NOMEM, "out of memory");
        free(out);
        if (st != LPS_OK) {
            remove_outputs(output, k);
            goto failed;
        }
    }
    code = 0;
    goto cleanup;
failed:
    code = lps_cli_report(&err);
cleanup:
    for (size_t i = 0; i < n_inputs; i++)
        lps_tensor_release(&tensors[i]);
    lps_exec_ctx_free(ctx);
    lps_plan_free(plan);
    lps_model_free(m);
    return code;
}
