/* The operator registry: the list in src/ops/op_list.h, the defs in
 * src/ops/ and the test entries in tests/unit/op_cases.h must agree, and
 * every test entry must run. "How to add an operator" in src/ops/op.h. */
#include <check.h>
#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "op_forward.h"
#include "op_spec.h"
#include "ops/op.h"
#include "test_suite.h"

typedef struct list_line {
    const char *kind; /* KIND of LPS_OP(KIND, def) */
    const char *def;  /* def */
} list_line;

static const list_line list_lines[] = {
#define LPS_OP(KIND, def) {#KIND, #def},
#include "ops/op_list.h"
#undef LPS_OP
};
#define N_LIST_LINES ((int)(sizeof list_lines / sizeof list_lines[0]))

typedef struct op_case {
    const char *op_type;
    int64_t opset;
    const char *inputs;
    const char *attrs;
} op_case;

static const op_case op_cases[] = {
#define OP_CASE(op_type, opset, inputs, attrs) {op_type, opset, inputs, attrs},
#include "op_cases.h"
#undef OP_CASE
};
#define N_OP_CASES ((int)(sizeof op_cases / sizeof op_cases[0]))

#define DEF_PREFIX "lps_op_def lps_op_def_"
#define IDENT_MAX 128

START_TEST(every_kind_has_a_def)
{
    ck_assert_int_eq(N_LIST_LINES, LPS_OP_COUNT);
    for (int k = 0; k < LPS_OP_COUNT; k++) {
        const lps_op_def *d = lps_op_get((lps_op_kind)k);
        ck_assert_msg(d && d->name && d->name[0], "kind %d (%s) has no def or name", k,
                      list_lines[k].kind);
    }
    ck_assert_ptr_null(lps_op_get(LPS_OP_COUNT));
    ck_assert_ptr_null(lps_op_get((lps_op_kind)-1));
}
END_TEST

/* KIND must be def in capitals, so the enum name says which def it is. */
START_TEST(kind_names_match_defs)
{
    for (int k = 0; k < N_LIST_LINES; k++) {
        const char *a = list_lines[k].kind, *b = list_lines[k].def;
        size_t i = 0;
        while (a[i] && b[i] && a[i] == toupper((unsigned char)b[i]))
            i++;
        ck_assert_msg(a[i] == '\0' && b[i] == '\0', "LPS_OP(%s, %s): KIND is not def in capitals",
                      a, b);
    }
}
END_TEST

/* A weight entry names a differentiable input, a rank range and a row
 * form the sparsifier can lay out (docs/method.md). */
static void check_weight_entry(const lps_op_def *d, const lps_op_weight *w)
{
    ck_assert_msg(w->input >= 0 && w->input < d->max_inputs &&
                      lps_op_input_differentiable(d, (size_t)w->input),
                  "%s: weight input %d is not a differentiable input", d->name, w->input);
    ck_assert_msg(w->min_rank >= 1 && w->min_rank <= w->max_rank && w->max_rank <= LPS_MAX_RANK,
                  "%s: weight ranks %d..%d", d->name, w->min_rank, w->max_rank);
    switch (w->rows) {
    case LPS_ROWS_UNITS_FIRST:
        ck_assert_msg(w->unit_axes >= 1 && w->unit_axes < w->min_rank,
                      "%s: %d unit axes leave no fan-in at rank %d", d->name, w->unit_axes,
                      w->min_rank);
        break;
    case LPS_ROWS_UNITS_LAST:
        ck_assert_msg(w->min_rank >= 2, "%s: units-last needs rank >= 2", d->name);
        break;
    case LPS_ROWS_FANIN_LAST:
        ck_assert_msg(w->min_rank >= 2, "%s: fan-in-last needs rank >= 2", d->name);
        break;
    case LPS_ROWS_UNITS_SECOND_GROUPED:
        ck_assert_msg(w->group_attr && w->min_rank >= 2, "%s: grouped rows need group_attr",
                      d->name);
        break;
    default: ck_abort_msg("%s: unknown row form %d", d->name, (int)w->rows);
    }
    ck_assert_msg(!w->transpose_attr || w->rows == LPS_ROWS_UNITS_LAST ||
                      (w->rows == LPS_ROWS_UNITS_FIRST && w->unit_axes == 1),
                  "%s: transpose_attr swaps units-last and one-axis units-first only", d->name);
}

START_TEST(defs_keep_table_invariants)
{
    for (int k = 0; k < LPS_OP_COUNT; k++) {
        const lps_op_def *d = lps_op_get((lps_op_kind)k);
        ck_assert_msg(d->min_opset >= LPS_OPSET_MIN && d->min_opset <= d->max_opset &&
                          d->max_opset <= LPS_OPSET_MAX,
                      "%s: opsets %d..%d outside %d..%d", d->name, d->min_opset, d->max_opset,
                      LPS_OPSET_MIN, LPS_OPSET_MAX);
        ck_assert_msg(d->min_inputs >= 0 && d->min_inputs <= d->max_inputs &&
                          d->min_outputs >= 1 && d->min_outputs <= d->max_outputs &&
                          d->max_outputs <= LPS_OP_MAX_IO,
                      "%s: arity inputs %d..%d outputs %d..%d", d->name, d->min_inputs,
                      d->max_inputs, d->min_outputs, d->max_outputs);
        ck_assert_msg(d->shape && d->forward, "%s: shape and forward are required", d->name);
        ck_assert_msg((d->backward != NULL) == (d->differentiable != 0),
                      "%s: backward must exist exactly when an input is differentiable",
                      d->name);
        /* variadic ops (Concat) have max_inputs INT_MAX: no shift by that much */
        bool state_in_range = d->max_inputs >= (int)(sizeof d->state_inputs * CHAR_BIT) ||
                              d->state_inputs < (1u << d->max_inputs);
        ck_assert_msg((d->update_state != NULL) == (d->state_inputs != 0) && state_in_range,
                      "%s: update_state needs state_inputs among its inputs", d->name);
        for (int w = 0; w < LPS_OP_MAX_WEIGHTS && d->weights[w].role; w++)
            check_weight_entry(d, &d->weights[w]);
        /* a view moves the elements of its differentiable inputs, the same
         * ones every run (docs/method.md, "Weights behind views") */
        ck_assert_msg(!d->weight_view || (d->differentiable && !d->stochastic),
                      "%s: a weight view needs a differentiable input and no randomness",
                      d->name);
    }
}
END_TEST

START_TEST(no_name_has_overlapping_opsets)
{
    for (int a = 0; a < LPS_OP_COUNT; a++)
        for (int b = a + 1; b < LPS_OP_COUNT; b++) {
            const lps_op_def *x = lps_op_get((lps_op_kind)a), *y = lps_op_get((lps_op_kind)b);
            if (x == y)
                ck_abort_msg("lps_op_def_%s is listed twice", list_lines[a].def);
            if (strcmp(x->name, y->name) != 0)
                continue;
            ck_assert_msg(x->max_opset < y->min_opset || y->max_opset < x->min_opset,
                          "%s: lps_op_def_%s (opsets %d..%d) and lps_op_def_%s (%d..%d) overlap",
                          x->name, list_lines[a].def, x->min_opset, x->max_opset,
                          list_lines[b].def, y->min_opset, y->max_opset);
        }
}
END_TEST

static bool is_listed(const char *def)
{
    for (int k = 0; k < N_LIST_LINES; k++)
        if (strcmp(list_lines[k].def, def) == 0)
            return true;
    return false;
}

/* Every "lps_op_def lps_op_def_X =" in one source file must be a list line. */
static int check_file_defs(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)len + 1);
    ck_assert_ptr_nonnull(text);
    ck_assert_int_eq(fread(text, 1, (size_t)len, f), (size_t)len);
    text[len] = '\0';
    fclose(f);
    int found = 0;
    for (const char *p = strstr(text, DEF_PREFIX); p; p = strstr(p + 1, DEF_PREFIX)) {
        const char *id = p + strlen(DEF_PREFIX);
        size_t n = 0;
        char name[IDENT_MAX];
        while ((isalnum((unsigned char)id[n]) || id[n] == '_') && n + 1 < sizeof name) {
            name[n] = id[n];
            n++;
        }
        name[n] = '\0';
        const char *after = id + n;
        while (*after == ' ')
            after++;
        if (*after != '=')
            continue;
        ck_assert_msg(is_listed(name), "%s defines lps_op_def_%s, which has no line in "
                      "src/ops/op_list.h", path, name);
        found++;
    }
    free(text);
    return found;
}

START_TEST(every_def_in_src_ops_is_listed)
{
    const char *root = getenv("LPS_SOURCE_DIR");
    ck_assert_msg(root != NULL, "LPS_SOURCE_DIR is not set");
    char dir[4096], path[8192];
    snprintf(dir, sizeof dir, "%s/src/ops", root);
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s", dir);
    int defs = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t n = strlen(e->d_name);
        if (n < 3 || strcmp(e->d_name + n - 2, ".c") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        defs += check_file_defs(path);
    }
    closedir(d);
    ck_assert_msg(defs == LPS_OP_COUNT, "src/ops defines %d op defs, the list has %d", defs,
                  LPS_OP_COUNT);
}
END_TEST

/* The def a case selects: the one with its name whose range holds its opset. */
static const lps_op_def *def_of_case(const op_case *c)
{
    for (int k = 0; k < LPS_OP_COUNT; k++) {
        const lps_op_def *d = lps_op_get((lps_op_kind)k);
        if (strcmp(d->name, c->op_type) == 0 && c->opset >= d->min_opset &&
            c->opset <= d->max_opset)
            return d;
    }
    return NULL;
}

START_TEST(every_def_has_a_test_entry)
{
    for (int k = 0; k < LPS_OP_COUNT; k++) {
        const lps_op_def *d = lps_op_get((lps_op_kind)k);
        bool covered = false;
        for (int c = 0; c < N_OP_CASES && !covered; c++)
            covered = def_of_case(&op_cases[c]) == d;
        ck_assert_msg(covered,
                      "%s (lps_op_def_%s, opsets %d..%d) has no OP_CASE in tests/unit/op_cases.h",
                      d->name, list_lines[k].def, d->min_opset, d->max_opset);
    }
}
END_TEST

START_TEST(every_test_entry_names_a_def)
{
    for (int c = 0; c < N_OP_CASES; c++)
        ck_assert_msg(def_of_case(&op_cases[c]) != NULL,
                      "OP_CASE(\"%s\", %lld, ...) matches no registered def", op_cases[c].op_type,
                      (long long)op_cases[c].opset);
}
END_TEST

/* Forward in both modes, then finite differences on the differentiable
 * float inputs in both modes. _i indexes op_cases. */
START_TEST(test_entry_runs)
{
    const op_case *c = &op_cases[_i];
    const lps_op_def *d = def_of_case(c);
    ck_assert_msg(d != NULL, "%s: no def at opset %lld", c->op_type, (long long)c->opset);
    op_spec_case sc;
    char why[512] = "";
    ck_assert_msg(op_spec_parse(&sc, c->op_type, c->inputs, c->attrs, d->min_outputs, why,
                                sizeof why) == 0,
                  "%s: %s", c->op_type, why);
    uint32_t mask = 0;
    for (size_t i = 0; i < sc.n_inputs; i++)
        if (sc.inputs[i] && sc.inputs[i]->dtype == LPS_DT_FLOAT &&
            lps_op_input_differentiable(d, i))
            mask |= 1u << i;
    for (int training = 0; training <= 1; training++) {
        lps_tensor outs[LPS_OP_MAX_IO];
        lps_error err = {0};
        memset(outs, 0, sizeof outs);
        lps_status st = test_op_forward_mode(sc.node, c->opset, training, 1, sc.inputs, outs,
                                             (size_t)d->min_outputs, &err);
        for (int j = 0; j < LPS_OP_MAX_IO; j++)
            lps_tensor_release(&outs[j]);
        ck_assert_msg(st == LPS_OK, "%s opset %lld (%s): forward failed: %s", c->op_type,
                      (long long)c->opset, training ? "training" : "inference", err.msg);
        if (!mask)
            continue;
        gradcheck_tol tol = gradcheck_default_tol();
        tol.training = training;
        ck_assert_msg(gradcheck_op(sc.node, c->opset, sc.inputs, sc.n_inputs, mask, tol, why,
                                   sizeof why),
                      "%s opset %lld (%s): %s", c->op_type, (long long)c->opset,
                      training ? "training" : "inference", why);
    }
    op_spec_case_release(&sc);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"table", every_kind_has_a_def, 1},
        {"table", kind_names_match_defs, 1},
        {"table", defs_keep_table_invariants, 1},
        {"table", no_name_has_overlapping_opsets, 1},
        {"table", every_def_in_src_ops_is_listed, 1},
        {"table", every_def_has_a_test_entry, 1},
        {"table", every_test_entry_names_a_def, 1},
        {"entries", test_entry_runs, N_OP_CASES},
    };
    return test_run_table("registry", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
