/* String -> int map (open addressing) for value names. Keys are borrowed,
 * not copied: they must outlive the map. */
#ifndef LPS_CORE_NAME_MAP_H
#define LPS_CORE_NAME_MAP_H

#include <stddef.h>

#include "lpsparsify/error.h"

typedef struct lps_name_map {
    const char **keys;
    int *values;
    size_t capacity;   /* power of two */
    size_t count;
} lps_name_map;

/* Prepares an empty map for about `expected` keys. LPS_ERR_NOMEM on failure. */
lps_status lps_name_map_init(lps_name_map *m, size_t expected, lps_error *err);
/* Inserts key -> value; returns LPS_ERR_INVALID if the key exists. */
lps_status lps_name_map_put(lps_name_map *m, const char *key, int value, lps_error *err);
/* Value for key, or -1. */
int lps_name_map_get(const lps_name_map *m, const char *key);
/* Frees the tables (not the keys). NULL is accepted. */
void lps_name_map_release(lps_name_map *m);

#endif
