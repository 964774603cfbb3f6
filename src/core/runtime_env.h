/* The environment the program's libraries read once, when they are
 * loaded: OpenMP's wait policy and OpenBLAS's kernel choice. Why in
 * docs/architecture.md ("Threads" and "OpenBLAS's kernel"). */
#ifndef LPS_CORE_RUNTIME_ENV_H
#define LPS_CORE_RUNTIME_ENV_H

#include <stdbool.h>

/* The environment variable OpenMP takes its wait policy from. */
#define LPS_PAR_WAIT_ENV "OMP_WAIT_POLICY"
/* The environment variable a DYNAMIC_ARCH OpenBLAS takes its core from. */
#define LPS_BLAS_CORE_ENV "OPENBLAS_CORETYPE"

/* The widest vector instructions a CPU (or an OpenBLAS core's sgemm
 * kernel) uses, in increasing order. */
typedef enum lps_vector_width {
    LPS_VECTORS_NARROW, /* below AVX2 + FMA, or not known */
    LPS_VECTORS_AVX2,   /* AVX2 and FMA */
    LPS_VECTORS_AVX512, /* AVX-512 F, CD, BW, DQ and VL */
} lps_vector_width;

/* What this CPU and its operating system support. */
lps_vector_width lps_cpu_vector_width(void);

/* Whether the table of OpenBLAS 0.3.21's x86 cores names `core` (as
 * openblas_get_corename prints it; case ignored), and if so the vectors
 * of its sgemm kernels in *width. False for NULL and for names the table
 * does not hold (other architectures, later versions), *width untouched. */
bool lps_blas_core_width(const char *core, lps_vector_width *width);

/* The OpenBLAS core to ask for (a LPS_BLAS_CORE_ENV value) on a CPU with
 * cpu_width when OpenBLAS picked the core named current
 * (openblas_get_corename); NULL to keep current. Only a current core that
 * OpenBLAS runs without AVX2 is replaced, and only by one the CPU can
 * run: OpenBLAS 0.3.21 picks Prescott (SSE3) on CPUs newer than it knows,
 * such as Intel's Emerald Rapids, where its SkylakeX kernel is about 4x
 * faster (docs/benchmarks.md, "OpenBLAS on CPUs it does not know"). A
 * core the table does not name is kept: its kernels are not known to be
 * narrower. */
const char *lps_blas_core_upgrade(const char *current, lps_vector_width cpu_width);

/* For a program's main, before anything else. Sets the variables the
 * user left unset to what this program wants: LPS_PAR_WAIT_ENV to PASSIVE,
 * so that OpenMP workers sleep between the ops' parallel regions instead
 * of spinning against the threads that have work, and LPS_BLAS_CORE_ENV to
 * lps_blas_core_upgrade's core when it names one. Both libraries read the
 * variables when they are loaded, so setting them in main is too late:
 * when it set any, the function re-executes the program (the file
 * /proc/self/exe names, same argv and environment otherwise). Not when the
 * image is another program than argv[0] names (valgrind's tool). Returns
 * when nothing needed setting (the user's choice, or after the re-exec), or
 * when exec fails (the program then runs on with the libraries' defaults,
 * correct but slower). */
void lps_default_runtime_env(char **argv);

#endif
