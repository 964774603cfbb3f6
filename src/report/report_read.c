/* Reading a JSON report back from a file (for `lpsparsify report`). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "report/html.h"
#include "report/report.h"

/* Reports are a few hundred bytes per layer; a larger file is not one. */
#define REPORT_MAX_BYTES (256u << 20)

/* Reads the whole regular file at path. Returns the bytes (caller frees)
 * and their count, or NULL with err set ("PATH: reason"). */
static char *read_text(const char *path, size_t max_bytes, size_t *len, lps_error *err)
{
    struct stat st;
    FILE *f = fopen(path, "rb");
    if (!f) {
        lps_fail(err, LPS_ERR_INVALID, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *text = NULL;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        lps_fail(err, LPS_ERR_INVALID, "%s: not a regular file", path);
        goto cleanup;
    }
    if ((unsigned long long)st.st_size > max_bytes) {
        lps_fail(err, LPS_ERR_INVALID, "%s: %lld bytes is too large (at most %zu)", path,
                 (long long)st.st_size, max_bytes);
        goto cleanup;
    }
    text = malloc((size_t)st.st_size + 1);
    if (!text) {
        lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory", path);
        goto cleanup;
    }
    *len = fread(text, 1, (size_t)st.st_size, f);
    if (ferror(f)) {
        lps_fail(err, LPS_ERR_IO, "%s: read failed", path);
        free(text);
        text = NULL;
        goto cleanup;
    }
    text[*len] = '\0';
cleanup:
    fclose(f);
    return text;
}

cJSON *lps_json_read(const char *path, size_t max_bytes, lps_error *err)
{
    size_t len = 0;
    char *text = read_text(path, max_bytes, &len, err);
    if (!text)
        return NULL;
    const char *end = NULL;
    cJSON *json = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!json) /* cJSON points end at the first byte it could not take. */
        lps_fail(err, LPS_ERR_INVALID, "%s: not valid JSON (at byte %td)", path,
                 end ? end - text : (ptrdiff_t)0);
    free(text);
    return json;
}

cJSON *lps_report_read(const char *path, lps_error *err)
{
    cJSON *report = lps_json_read(path, REPORT_MAX_BYTES, err);
    if (report && lps_report_html_check(report, err) != LPS_OK) {
        lps_error_prefix(err, "%s", path);
        cJSON_Delete(report);
        report = NULL;
    }
    return report;
}
