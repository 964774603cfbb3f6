/* Einsum's equation: parsing and resolution against input shapes (see
 * einsum.h). */
#include "ops/einsum.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define ES_LETTERS 128

static lps_status es_refuse(const lps_op_node *op, const char *text, const char *why,
                            lps_error *err)
{
    return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "equation '%s': %s", text, why);
}

/* Reads one term from *s up to ',', '-' (of "->") or the end. */
static lps_status parse_term(const lps_op_node *op, const char *text, const char **s,
                             es_term *t, lps_error *err)
{
    memset(t, 0, sizeof *t);
    t->ellipsis_at = -1;
    const char *p = *s;
    for (; *p && *p != ',' && *p != '-'; p++) {
        if (*p == ' ')
            continue;
        if (*p == '.') {
            if (strncmp(p, "...", 3) != 0 || t->ellipsis_at >= 0)
                return es_refuse(op, text, "'.' outside a single '...' per term", err);
            t->ellipsis_at = t->n;
            p += 2;
            continue;
        }
        if (!isalpha((unsigned char)*p) || (unsigned char)*p >= ES_LETTERS)
            return es_refuse(op, text, "labels must be letters", err);
        if (t->n == LPS_MAX_RANK)
            return es_refuse(op, text, "a term has more dims than the supported rank", err);
        t->letter[t->n++] = (unsigned char)*p;
    }
    *s = p;
    return LPS_OK;
}

/* numpy's implicit output: "..." if any input has one, then the letters
 * written exactly once over all inputs, in ASCII order. */
static lps_status implicit_output(const lps_op_node *op, es_equation *eq, lps_error *err)
{
    int count[ES_LETTERS] = {0};
    bool ellipsis = false;
    for (int i = 0; i < eq->n_terms; i++) {
        for (int j = 0; j < eq->in[i].n; j++)
            count[eq->in[i].letter[j]]++;
        ellipsis = ellipsis || eq->in[i].ellipsis_at >= 0;
    }
    es_term *o = &eq->out;
    memset(o, 0, sizeof *o);
    o->ellipsis_at = ellipsis ? 0 : -1;
    for (int c = 0; c < ES_LETTERS; c++) {
        if (count[c] != 1)
            continue;
        if (o->n == LPS_MAX_RANK)
            return es_refuse(op, eq->text, "the output has more dims than the supported rank",
                             err);
        o->letter[o->n++] = (unsigned char)c;
    }
    return LPS_OK;
}

/* Every output letter comes from an input and appears once. */
static lps_status check_output(const lps_op_node *op, const es_equation *eq, lps_error *err)
{
    bool seen[ES_LETTERS] = {false}, in_input[ES_LETTERS] = {false};
    for (int i = 0; i < eq->n_terms; i++)
        for (int j = 0; j < eq->in[i].n; j++)
            in_input[eq->in[i].letter[j]] = true;
    for (int j = 0; j < eq->out.n; j++) {
        unsigned char c = eq->out.letter[j];
        if (!in_input[c] || seen[c]) {
            char why[64];
            snprintf(why, sizeof why, "output label '%c' %s", c,
                     seen[c] ? "repeats" : "is in no input");
            return es_refuse(op, eq->text, why, err);
        }
        seen[c] = true;
    }
    return LPS_OK;
}

lps_status es_parse(const lps_op_node *op, const char *text, size_t n_inputs, es_equation *eq,
                    lps_error *err)
{
    memset(eq, 0, sizeof *eq);
    snprintf(eq->text, sizeof eq->text, "%s", text);
    const char *s = text;
    lps_status st = LPS_OK;
    for (;;) {
        if (eq->n_terms == ES_MAX_TERMS)
            return es_refuse(op, eq->text, "too many operands", err);
        st = parse_term(op, eq->text, &s, &eq->in[eq->n_terms++], err);
        if (st != LPS_OK)
            return st;
        if (*s != ',')
            break;
        s++;
    }
    if ((size_t)eq->n_terms != n_inputs) {
        char why[80];
        snprintf(why, sizeof why, "%d terms for %zu inputs", eq->n_terms, n_inputs);
        return es_refuse(op, eq->text, why, err);
    }
    if (*s == '\0')
        return implicit_output(op, eq, err);
    if (strncmp(s, "->", 2) != 0)
        return es_refuse(op, eq->text, "'-' not followed by '>'", err);
    s += 2;
    st = parse_term(op, eq->text, &s, &eq->out, err);
    if (st == LPS_OK && *s != '\0')
        st = es_refuse(op, eq->text, "text after the output term", err);
    if (st == LPS_OK)
        st = check_output(op, eq, err);
    return st;
}

int es_view_find(const es_view *v, int label)
{
    for (int i = 0; i < v->n; i++)
        if (v->label[i] == label)
            return i;
    return -1;
}

void es_view_make_dense(es_view *v)
{
    lps_strided_dense(v->n, v->dim, v->stride);
}

/* Labels of the dims of a term applied to a tensor of `rank` whose
 * ellipsis is right-aligned in an ellipsis of ell_rank dims. */
static void term_labels(const es_term *t, int rank, int ell_rank, int *label)
{
    int ell = t->ellipsis_at >= 0 ? rank - t->n : 0;
    int d = 0;
    for (int j = 0; j <= t->n; j++) {
        if (j == t->ellipsis_at)
            for (int k = 0; k < ell; k++)
                label[d++] = ES_ELLIPSIS_LABEL + ell_rank - ell + k;
        if (j < t->n)
            label[d++] = t->letter[j];
    }
}

/* Records the size of label from one dim: letters must agree, ellipsis
 * dims broadcast (-1: not seen yet). */
static lps_status note_size(const lps_op_node *op, const es_equation *eq, int label, int64_t d,
                            int64_t *size, lps_error *err)
{
    bool broadcast = label >= ES_ELLIPSIS_LABEL;
    if (size[label] < 0 || (broadcast && size[label] == 1))
        size[label] = d;
    else if (size[label] != d && !(broadcast && d == 1)) {
        char why[96];
        if (broadcast)
            snprintf(why, sizeof why, "'...' dims %lld and %lld do not broadcast",
                     (long long)size[label], (long long)d);
        else
            snprintf(why, sizeof why, "label '%c' has sizes %lld and %lld", label,
                     (long long)size[label], (long long)d);
        return lps_op_fail(op, err, LPS_ERR_INVALID, "equation '%s': %s", eq->text, why);
    }
    return LPS_OK;
}

/* The view of input i: dims of size 1 dropped, repeated labels merged into
 * the diagonal (strides summed). */
static void view_of(const lps_tensor *t, const int *label, es_view *v)
{
    int64_t stride[LPS_MAX_RANK];
    lps_strided_dense(t->rank, t->dims, stride);
    memset(v, 0, sizeof *v);
    for (int d = 0; d < t->rank; d++) {
        if (t->dims[d] == 1)
            continue;
        int at = es_view_find(v, label[d]);
        if (at >= 0) {
            v->stride[at] += stride[d];
            continue;
        }
        v->label[v->n] = label[d];
        v->dim[v->n] = t->dims[d];
        v->stride[v->n++] = stride[d];
    }
}

/* Rank and dtype of every input against its term; the ellipsis rank. */
static lps_status check_inputs(const lps_op_node *op, const es_equation *eq,
                               const lps_tensor *const *in, int *ell_rank, lps_error *err)
{
    *ell_rank = 0;
    for (int i = 0; i < eq->n_terms; i++) {
        const es_term *t = &eq->in[i];
        if (!in[i])
            return lps_op_fail(op, err, LPS_ERR_INVALID, "input %d is missing", i);
        if (in[i]->dtype != LPS_DT_FLOAT && in[i]->dtype != LPS_DT_DOUBLE)
            return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED,
                               "input %d has type %s; Einsum takes float or double", i,
                               lps_dtype_name(in[i]->dtype));
        if (in[i]->dtype != in[0]->dtype)
            return lps_op_fail(op, err, LPS_ERR_INVALID, "input %d is %s, input 0 is %s", i,
                               lps_dtype_name(in[i]->dtype), lps_dtype_name(in[0]->dtype));
        bool fits = t->ellipsis_at >= 0 ? in[i]->rank >= t->n : in[i]->rank == t->n;
        if (!fits)
            return lps_op_fail(op, err, LPS_ERR_INVALID,
                               "equation '%s': input %d has rank %d for a term of %d labels%s",
                               eq->text, i, in[i]->rank, t->n,
                               t->ellipsis_at >= 0 ? " and '...'" : "");
        if (t->ellipsis_at >= 0 && in[i]->rank - t->n > *ell_rank)
            *ell_rank = in[i]->rank - t->n;
    }
    return LPS_OK;
}

lps_status es_resolve(const lps_op_node *op, const es_equation *eq, const lps_tensor *const *in,
                      es_resolved *r, lps_error *err)
{
    int ell_rank;
    lps_status st = check_inputs(op, eq, in, &ell_rank, err);
    if (st != LPS_OK)
        return st;
    int64_t size[ES_MAX_LABELS];
    for (int l = 0; l < ES_MAX_LABELS; l++)
        size[l] = -1;
    memset(r, 0, sizeof *r);
    r->n_in = eq->n_terms;
    for (int i = 0; i < eq->n_terms; i++) {
        int label[LPS_MAX_RANK];
        term_labels(&eq->in[i], in[i]->rank, ell_rank, label);
        for (int d = 0; d < in[i]->rank && st == LPS_OK; d++)
            st = note_size(op, eq, label[d], in[i]->dims[d], size, err);
        if (st != LPS_OK)
            return st;
        view_of(in[i], label, &r->in[i]);
    }
    int out_rank = eq->out.n + (eq->out.ellipsis_at >= 0 ? ell_rank : 0);
    if (out_rank > LPS_MAX_RANK)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "equation '%s': output rank %d exceeds %d",
                           eq->text, out_rank, LPS_MAX_RANK);
    int label[LPS_MAX_RANK];
    term_labels(&eq->out, out_rank, ell_rank, label);
    r->shape.dtype = in[0]->dtype;
    r->shape.rank = out_rank;
    for (int d = 0; d < out_rank; d++) {
        int64_t n = size[label[d]] < 0 ? 1 : size[label[d]];
        r->shape.dims[d] = n;
        if (n == 1)
            continue;
        r->out.label[r->out.n] = label[d];
        r->out.dim[r->out.n++] = n;
    }
    es_view_make_dense(&r->out);
    for (int l = 0; l < ES_MAX_LABELS; l++)
        r->empty = r->empty || size[l] == 0;
    return LPS_OK;
}
