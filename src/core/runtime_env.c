/* Environment defaults read by the libraries at load time: contracts in
 * runtime_env.h, why in docs/architecture.md ("OpenBLAS's kernel"). */
#include "core/runtime_env.h"

#include <cblas.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

lps_vector_width lps_cpu_vector_width(void)
{
#if defined(__x86_64__) || defined(__i386__)
    /* libgcc's checks include the operating system's support (XCR0) */
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl"))
        return LPS_VECTORS_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return LPS_VECTORS_AVX2;
#endif
    return LPS_VECTORS_NARROW;
}

typedef struct blas_core {
    const char *name; /* as openblas_get_corename prints it */
    lps_vector_width width;
} blas_core;

/* OpenBLAS 0.3.21's x86 cores (its DYNAMIC_ARCH list) by the vectors of
 * their sgemm kernels. */
static const blas_core BLAS_CORES[] = {
    {"Katmai", LPS_VECTORS_NARROW},     {"Coppermine", LPS_VECTORS_NARROW},
    {"Northwood", LPS_VECTORS_NARROW},  {"Prescott", LPS_VECTORS_NARROW},
    {"Banias", LPS_VECTORS_NARROW},     {"Atom", LPS_VECTORS_NARROW},
    {"Core2", LPS_VECTORS_NARROW},      {"Penryn", LPS_VECTORS_NARROW},
    {"Dunnington", LPS_VECTORS_NARROW}, {"Nehalem", LPS_VECTORS_NARROW},
    {"Sandybridge", LPS_VECTORS_NARROW}, {"Athlon", LPS_VECTORS_NARROW},
    {"Opteron", LPS_VECTORS_NARROW},    {"Opteron_SSE3", LPS_VECTORS_NARROW},
    {"Barcelona", LPS_VECTORS_NARROW},  {"Bobcat", LPS_VECTORS_NARROW},
    {"Bulldozer", LPS_VECTORS_NARROW},  {"Piledriver", LPS_VECTORS_NARROW},
    {"Steamroller", LPS_VECTORS_NARROW}, {"Excavator", LPS_VECTORS_NARROW},
    {"Haswell", LPS_VECTORS_AVX2},      {"Zen", LPS_VECTORS_AVX2},
    {"SkylakeX", LPS_VECTORS_AVX512},   {"Cooperlake", LPS_VECTORS_AVX512},
    {"SapphireRapids", LPS_VECTORS_AVX512},
};

/* The core to ask for on a CPU of each width (index: lps_vector_width). */
static const char *const BLAS_CORE_FOR_WIDTH[] = {NULL, "Haswell", "SkylakeX"};

bool lps_blas_core_width(const char *core, lps_vector_width *width)
{
    for (size_t i = 0; core && i < sizeof BLAS_CORES / sizeof *BLAS_CORES; i++)
        if (strcasecmp(core, BLAS_CORES[i].name) == 0) {
            *width = BLAS_CORES[i].width;
            return true;
        }
    return false;
}

const char *lps_blas_core_upgrade(const char *current, lps_vector_width cpu_width)
{
    lps_vector_width width;
    if (!lps_blas_core_width(current, &width) || width != LPS_VECTORS_NARROW)
        return NULL;
    return BLAS_CORE_FOR_WIDTH[cpu_width];
}

/* Sets name to value unless the user set it; whether it did. */
static bool set_default(const char *name, const char *value)
{
    return value && !getenv(name) && setenv(name, value, 0) == 0;
}

void lps_default_runtime_env(char **argv)
{
    /* the program's own path, so that it keeps its name (comm) in ps */
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self);
    if (len <= 0 || (size_t)len >= sizeof self)
        return;
    self[len] = '\0';
    /* only when the image is this program: under valgrind it is the tool,
     * which must not be run directly */
    const char *base = strrchr(self, '/'), *name = strrchr(argv[0], '/');
    if (strcmp(base ? base + 1 : self, name ? name + 1 : argv[0]) != 0)
        return;
    bool changed = set_default(LPS_PAR_WAIT_ENV, "PASSIVE");
    const char *core = lps_blas_core_upgrade(openblas_get_corename(), lps_cpu_vector_width());
    changed |= set_default(LPS_BLAS_CORE_ENV, core);
    if (changed)
        execv(self, argv);
}
