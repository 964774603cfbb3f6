#include "op_spec.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_node.h"

#define SPEC_TOKEN_MAX 512
#define SPEC_MAX_VALUES 64
#define DEFAULT_LO (-1.0f)
#define DEFAULT_HI 1.0f
/* Input k draws from seed SPEC_SEED + k, so cases reproduce exactly. */
#define SPEC_SEED 1234u

static int fail(char *why, size_t why_len, const char *what, const char *text)
{
    snprintf(why, why_len, "bad spec: %s in '%s'", what, text);
    return -1;
}

/* Copies the next space-separated token of *s into tok; 0 when none left. */
static int next_token(const char **s, char *tok, size_t len)
{
    while (**s == ' ')
        (*s)++;
    size_t n = 0;
    while (**s && **s != ' ' && n + 1 < len)
        tok[n++] = *(*s)++;
    tok[n] = '\0';
    return n > 0;
}

/* Parses "v0,v1,..." up to `end` (or the string's end) into doubles. */
static int parse_numbers(const char *s, double *out, int max, int *count)
{
    *count = 0;
    while (*s && *s != ']' && *s != ')') {
        char *stop;
        if (*count == max)
            return -1;
        out[(*count)++] = strtod(s, &stop);
        if (stop == s)
            return -1;
        s = stop;
        if (*s == ',')
            s++;
    }
    return 0;
}

static lps_tensor *parse_tensor(const char *text, uint64_t seed, char *why, size_t why_len)
{
    lps_dtype dtype;
    switch (text[0]) {
    case 'f': dtype = LPS_DT_FLOAT; break;
    case 'i': dtype = LPS_DT_INT64; break;
    case 'b': dtype = LPS_DT_BOOL; break;
    default: fail(why, why_len, "unknown element type", text); return NULL;
    }
    double dims_d[LPS_MAX_RANK], values[SPEC_MAX_VALUES], range[2] = {DEFAULT_LO, DEFAULT_HI};
    int rank, n_values = -1, n_range = 2;
    const char *close = strchr(text, ']');
    if (text[1] != '[' || !close ||
        parse_numbers(text + 2, dims_d, LPS_MAX_RANK, &rank) != 0) {
        fail(why, why_len, "bad shape", text);
        return NULL;
    }
    const char *rest = close + 1;
    if (*rest == '(' && (parse_numbers(rest + 1, range, 2, &n_range) != 0 || n_range != 2)) {
        fail(why, why_len, "bad (lo,hi) range", text);
        return NULL;
    }
    if (*rest == '(')
        rest = strchr(rest, ')') ? strchr(rest, ')') + 1 : "";
    if (*rest == '=' && parse_numbers(rest + 1, values, SPEC_MAX_VALUES, &n_values) != 0) {
        fail(why, why_len, "bad values", text);
        return NULL;
    }
    int64_t dims[LPS_MAX_RANK];
    for (int d = 0; d < rank; d++)
        dims[d] = (int64_t)dims_d[d];
    int64_t numel = lps_numel_of(rank, dims);
    if (n_values >= 0 && n_values != numel) {
        fail(why, why_len, "value count differs from the shape", text);
        return NULL;
    }
    if (n_values < 0 && dtype != LPS_DT_FLOAT) {
        fail(why, why_len, "integer and bool inputs need values", text);
        return NULL;
    }
    if (n_values < 0)
        return test_tensor_random(rank, dims, (float)range[0], (float)range[1], seed);
    lps_tensor *t = lps_tensor_new();
    if (!t || lps_tensor_alloc(t, dtype, rank, dims, NULL) != LPS_OK) {
        lps_tensor_free(t);
        fail(why, why_len, "cannot allocate", text);
        return NULL;
    }
    for (int64_t k = 0; k < numel; k++) {
        if (dtype == LPS_DT_FLOAT)
            ((float *)t->data)[k] = (float)values[k];
        else if (dtype == LPS_DT_INT64)
            ((int64_t *)t->data)[k] = (int64_t)values[k];
        else
            ((uint8_t *)t->data)[k] = values[k] != 0.0;
    }
    return t;
}

static int is_tensor_text(const char *v)
{
    return isalpha((unsigned char)v[0]) && v[1] == '[';
}

static int is_float_text(const char *v)
{
    return strpbrk(v, ".eE") != NULL;
}

static int parse_attr(lps_node *node, char *tok, char *why, size_t why_len)
{
    char *eq = strchr(tok, '=');
    if (!eq || eq == tok)
        return fail(why, why_len, "attribute without name=value", tok);
    *eq = '\0';
    const char *name = tok, *v = eq + 1;
    size_t len = strlen(v);
    if (v[0] == '\'' && len >= 2 && v[len - 1] == '\'') {
        char text[SPEC_TOKEN_MAX];
        snprintf(text, sizeof text, "%.*s", (int)(len - 2), v + 1);
        test_node_attr_string(node, name, text);
        return 0;
    }
    if (is_tensor_text(v)) {
        lps_tensor *t = parse_tensor(v, SPEC_SEED, why, why_len);
        if (!t)
            return -1;
        test_node_attr_tensor(node, name, t);
        lps_tensor_free(t);
        return 0;
    }
    double nums[SPEC_MAX_VALUES];
    int n;
    int list = v[0] == '[';
    if (parse_numbers(v + list, nums, SPEC_MAX_VALUES, &n) != 0 || (!list && n != 1))
        return fail(why, why_len, "bad attribute value", v);
    if (list && is_float_text(v)) {
        float f[SPEC_MAX_VALUES];
        for (int k = 0; k < n; k++)
            f[k] = (float)nums[k];
        test_node_attr_floats(node, name, f, n);
    } else if (list) {
        int64_t ints[SPEC_MAX_VALUES];
        for (int k = 0; k < n; k++)
            ints[k] = (int64_t)nums[k];
        test_node_attr_ints(node, name, ints, n);
    } else if (is_float_text(v)) {
        test_node_attr_float(node, name, (float)nums[0]);
    } else {
        test_node_attr_int(node, name, (int64_t)nums[0]);
    }
    return 0;
}

int op_spec_parse(op_spec_case *c, const char *op_type, const char *inputs, const char *attrs,
                  int n_outputs, char *why, size_t why_len)
{
    char tok[SPEC_TOKEN_MAX];
    const char *s = inputs;
    memset(c, 0, sizeof *c);
    size_t n = 0;
    while (next_token(&s, tok, sizeof tok))
        n++;
    if (n > OP_SPEC_MAX_INPUTS)
        return fail(why, why_len, "too many inputs", inputs);
    c->n_inputs = n;
    c->node = test_node_new(op_type, (int)n, n_outputs);
    s = inputs;
    for (size_t i = 0; next_token(&s, tok, sizeof tok); i++) {
        if (strcmp(tok, "-") == 0) {
            test_node_omit_input(c->node, (int)i);
            continue;
        }
        c->inputs[i] = parse_tensor(tok, SPEC_SEED + i, why, why_len);
        if (!c->inputs[i])
            goto failed;
    }
    s = attrs;
    while (next_token(&s, tok, sizeof tok))
        if (parse_attr(c->node, tok, why, why_len) != 0)
            goto failed;
    return 0;
failed:
    op_spec_case_release(c);
    return -1;
}

void op_spec_case_release(op_spec_case *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < OP_SPEC_MAX_INPUTS; i++)
        lps_tensor_free(c->inputs[i]);
    test_node_free(c->node);
    memset(c, 0, sizeof *c);
}
