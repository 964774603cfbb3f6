/* native_blas TEST [ARGS...]: runs a unit-test program on the OpenBLAS
 * core the product runs. lpsparsify's mains re-execute with the core that
 * lps_blas_core_upgrade names when OpenBLAS's own choice has no AVX2
 * (docs/architecture.md, "OpenBLAS's kernel"), and the ops route their
 * products by the core they find (lps_packed_blas_avx512, the training
 * products' rule). A unit test is started by ctest without that re-exec,
 * so on such a CPU it only ever sees OpenBLAS's own narrow core; this
 * launcher gives it the product's.
 *
 * Exits SKIP_EXIT (the suite's SKIP_RETURN_CODE) without running TEST when
 * there is nothing to change: the user set OPENBLAS_CORETYPE, or OpenBLAS
 * already runs the core the product would (the plain ctest of TEST covers
 * that). Exits USAGE_EXIT without TEST, 1 when exec fails; otherwise it is
 * TEST, whose exit status ctest sees. */
#include <cblas.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/runtime_env.h"

#define SKIP_EXIT 77
#define USAGE_EXIT 2

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s TEST [ARGS...]\n", argv[0]);
        return USAGE_EXIT;
    }
    if (getenv(LPS_BLAS_CORE_ENV)) {
        printf("skipped: %s is set (%s)\n", LPS_BLAS_CORE_ENV, getenv(LPS_BLAS_CORE_ENV));
        return SKIP_EXIT;
    }
    const char *own = openblas_get_corename();
    const char *core = lps_blas_core_upgrade(own, lps_cpu_vector_width());
    if (!core) {
        printf("skipped: OpenBLAS's own core %s is the one the product runs\n", own);
        return SKIP_EXIT;
    }
    printf("%s on OpenBLAS core %s (OpenBLAS chose %s)\n", argv[1], core, own);
    fflush(stdout);
    if (setenv(LPS_BLAS_CORE_ENV, core, 1) != 0) {
        perror("setenv");
        return 1;
    }
    execv(argv[1], argv + 1);
    fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
    return 1;
}
