/* Writes docs/operators.md, the supported-operator table, from the
 * registry itself (src/ops/op_list.h through lps_op_get), so the table
 * cannot drift from the code:
 *
 *     gen_operators FILE           writes FILE (atomically)
 *     gen_operators --check FILE   exit 0 when FILE is what would be
 *                                  written, 1 (saying how to regenerate)
 *                                  when it differs or is missing
 *
 * It reads the op definitions, which only src/ops/op.h declares, so it
 * includes that internal header on purpose. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic_file.h"
#include "ops/op.h"

#define REGENERATE "cmake --build build --target gen_operators && build/tests/gen_operators docs/operators.md"

/* A growing text buffer; on allocation failure ok turns false and the
 * text stays what it was. */
typedef struct text {
    char *s;
    size_t len, cap;
    bool ok;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (!t->ok || n < 0)
        return;
    if (t->len + (size_t)n + 1 > t->cap) {
        size_t cap = (t->len + (size_t)n + 1) * 2;
        char *s = realloc(t->s, cap);
        if (!s) {
            t->ok = false;
            return;
        }
        t->s = s;
        t->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

static void put_range(text *t, int lo, int hi)
{
    if (lo == hi)
        put(t, "%d", lo);
    else
        put(t, "%d-%d", lo, hi);
}

/* Input indices whose bit is set in mask, "all" when every input is. */
static void put_inputs(text *t, uint32_t mask, int n_inputs, const char *none)
{
    bool all = n_inputs > 0, any = false;
    for (int i = 0; i < n_inputs; i++) {
        bool on = (mask >> (i < 31 ? i : 31)) & 1u;
        all = all && on;
        any = any || on;
    }
    if (all && n_inputs > 1) {
        put(t, "all");
        return;
    }
    if (!any) {
        put(t, "%s", none);
        return;
    }
    const char *sep = "";
    for (int i = 0; i < n_inputs && i < 32; i++)
        if ((mask >> i) & 1u) {
            put(t, "%s%d", sep, i);
            sep = ", ";
        }
}

static const char *role_name(lps_weight_role role)
{
    return role == LPS_WEIGHT_EMBEDDING ? "embedding" : "layer";
}

/* One weight declaration: input, role, ranks and row form. */
static void put_weight(text *t, const lps_op_weight *w)
{
    put(t, "input %d %s, rank ", w->input, role_name(w->role));
    put_range(t, w->min_rank, w->max_rank);
    switch (w->rows) {
    case LPS_ROWS_UNITS_FIRST:
        put(t, ": units first (%d %s)", w->unit_axes, w->unit_axes == 1 ? "axis" : "axes");
        break;
    case LPS_ROWS_UNITS_LAST:
        put(t, ": units last");
        break;
    case LPS_ROWS_UNITS_SECOND_GROUPED:
        put(t, ": units second, grouped by `%s`", w->group_attr ? w->group_attr : "group");
        break;
    case LPS_ROWS_FANIN_LAST:
        put(t, ": fan-in last");
        break;
    }
    if (w->transpose_attr)
        put(t, ", swapped by `%s`", w->transpose_attr);
    if (w->fallback)
        put(t, ", only when no earlier weight applies");
}

static void put_flags(text *t, const lps_op_def *d)
{
    const char *sep = "";
    if (d->stochastic) {
        put(t, "stochastic");
        sep = "; ";
    }
    if (d->shape_only) {
        put(t, "%sshape only", sep);
        sep = "; ";
    }
    if (d->update_state) {
        put(t, "%sstate update of inputs ", sep);
        put_inputs(t, d->state_inputs, d->max_inputs, "none");
        sep = "; ";
    }
    if (d->logits_passthrough) {
        put(t, "%slogits passthrough", sep);
        sep = "; ";
    }
    if (d->weight_view) {
        put(t, "%sweight view", sep);
        sep = "; ";
    }
    if (d->aliases_input) {
        put(t, "%sstorage view", sep);
        sep = "; ";
    }
    if (d->epilogue) {
        put(t, "%sfusable activation", sep);
        sep = "; ";
    }
    if (d->fuses_epilogue) {
        put(t, "%sfuses a following activation", sep);
        sep = "; ";
    }
    if (!*sep)
        put(t, "-");
}

static void put_row(text *t, const lps_op_def *d)
{
    put(t, "| %s | ", d->name);
    put_range(t, d->min_opset, d->max_opset);
    put(t, " | ");
    put_range(t, d->min_inputs, d->max_inputs);
    put(t, " | ");
    put_range(t, d->min_outputs, d->max_outputs);
    put(t, " | ");
    put_inputs(t, d->differentiable, d->max_inputs, "-");
    put(t, " | ");
    if (d->weights[0].role == LPS_WEIGHT_NONE)
        put(t, "-");
    for (int w = 0; w < LPS_OP_MAX_WEIGHTS && d->weights[w].role != LPS_WEIGHT_NONE; w++) {
        put(t, "%s", w ? "; " : "");
        put_weight(t, &d->weights[w]);
    }
    put(t, " | ");
    put_flags(t, d);
    put(t, " |\n");
}

static void put_document(text *t)
{
    put(t, "# Supported operators\n\n"
           "Generated from the operator registry (`src/ops/op_list.h`) by\n"
           "`tests/docs/gen_operators.c`; do not edit by hand. Regenerate with\n"
           "`%s`\n"
           "(the ctest `operators_doc` fails while this file is stale).\n\n",
           REGENERATE);
    put(t, "%d operator definitions, default domain (`\"\"` / `ai.onnx`), opsets %d-%d. "
           "An operator or opset outside this table is a load error naming the node, and so "
           "is an attribute or attribute value an operator does not support (its prepare "
           "checks them; the definitions do not declare attributes, so this table does not "
           "list them). Inputs are counted as written in the node (omitted optional inputs "
           "included); \"differentiable\" lists the inputs a gradient reaches (\"all\": "
           "every input, variadic). Weights are the prunable inputs with their row form "
           "(docs/method.md section 1); flags are the behaviour the engine, trainer and "
           "sparsifier read from the definition (`src/ops/op.h`); \"weight view\": the op only "
           "moves elements, so a weight behind it is its initializer's (docs/method.md, "
           "\"Weights behind views\"); \"fusable activation\" / \"fuses a following "
           "activation\": the compile plan lets the second apply the first in its own pass "
           "(docs/architecture.md, \"Fused activations\"); \"storage view\": output 0 shares "
           "input 0's storage inside a plan (docs/architecture.md, \"Views\").\n\n",
           (int)LPS_OP_COUNT, LPS_OPSET_MIN, LPS_OPSET_MAX);
    put(t, "| operator | opsets | inputs | outputs | differentiable | weights (rows) | flags |\n"
           "| --- | --- | --- | --- | --- | --- | --- |\n");
    for (int k = 0; k < LPS_OP_COUNT; k++)
        put_row(t, lps_op_get((lps_op_kind)k));
}

/* Whether path holds exactly len bytes equal to want. */
static bool file_equals(const char *path, const char *want, size_t len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    char *have = malloc(len + 1);
    size_t n = have ? fread(have, 1, len + 1, f) : 0;
    bool same = have && n == len && memcmp(have, want, len) == 0;
    free(have);
    fclose(f);
    return same;
}

int main(int argc, char **argv)
{
    bool check = argc == 3 && strcmp(argv[1], "--check") == 0;
    if (!check && argc != 2) {
        fprintf(stderr, "usage: gen_operators [--check] FILE\n");
        return 2;
    }
    const char *path = argv[argc - 1];
    text t = {.ok = true};
    put_document(&t);
    int rc = 0;
    if (!t.ok) {
        fprintf(stderr, "gen_operators: out of memory\n");
        rc = 1;
    } else if (check && !file_equals(path, t.s, t.len)) {
        fprintf(stderr, "%s is not what the registry generates (an operator was added or "
                        "changed): regenerate it with `%s` and commit it\n", path, REGENERATE);
        rc = 1;
    } else if (!check) {
        lps_error err;
        if (lps_write_file_atomic(path, t.s, t.len, &err) != LPS_OK) {
            fprintf(stderr, "gen_operators: %s\n", err.msg);
            rc = 1;
        }
    }
    free(t.s);
    return rc;
}
