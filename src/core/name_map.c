#include "core/name_map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Keep the table at most half full so probe chains stay short. */
#define NAME_MAP_LOAD_FACTOR 2
#define NAME_MAP_MIN_CAPACITY 16

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a offset basis */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL; /* FNV-1a prime */
    }
    return h;
}

lps_status lps_name_map_init(lps_name_map *m, size_t expected, lps_error *err)
{
    size_t cap = NAME_MAP_MIN_CAPACITY;
    while (cap < expected * NAME_MAP_LOAD_FACTOR)
        cap <<= 1;
    m->keys = calloc(cap, sizeof *m->keys);
    m->values = calloc(cap, sizeof *m->values);
    m->capacity = cap;
    m->count = 0;
    if (!m->keys || !m->values) {
        lps_name_map_release(m);
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory for a name table of %zu entries", cap);
    }
    return LPS_OK;
}

static size_t slot_of(const lps_name_map *m, const char *key)
{
    size_t mask = m->capacity - 1;
    size_t i = (size_t)hash_name(key) & mask;
    while (m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & mask;
    return i;
}

static lps_status grow(lps_name_map *m, lps_error *err)
{
    lps_name_map bigger;
    lps_status st = lps_name_map_init(&bigger, m->capacity, err);
    if (st != LPS_OK)
        return st;
    for (size_t i = 0; i < m->capacity; i++) {
        if (!m->keys[i])
            continue;
        size_t s = slot_of(&bigger, m->keys[i]);
        bigger.keys[s] = m->keys[i];
        bigger.values[s] = m->values[i];
        bigger.count++;
    }
    lps_name_map_release(m);
    *m = bigger;
    return LPS_OK;
}

lps_status lps_name_map_put(lps_name_map *m, const char *key, int value, lps_error *err)
{
    if ((m->count + 1) * NAME_MAP_LOAD_FACTOR > m->capacity) {
        lps_status st = grow(m, err);
        if (st != LPS_OK)
            return st;
    }
    size_t s = slot_of(m, key);
    if (m->keys[s])
        return lps_fail(err, LPS_ERR_INVALID, "name '%s' is defined twice", key);
    m->keys[s] = key;
    m->values[s] = value;
    m->count++;
    return LPS_OK;
}

int lps_name_map_get(const lps_name_map *m, const char *key)
{
    if (!m->capacity)
        return -1;
    size_t s = slot_of(m, key);
    return m->keys[s] ? m->values[s] : -1;
}

void lps_name_map_release(lps_name_map *m)
{
    if (!m)
        return;
    free(m->keys);
    free(m->values);
    m->keys = NULL;
    m->values = NULL;
    m->capacity = m->count = 0;
}
