/* The two LAPACK routines SparseGPT needs (docs/method.md, "One-shot
 * pruning from calibration"),
 * from OpenBLAS's bundled LAPACK (libopenblas exports them; no extra
 * package). Fortran calling convention: every argument by pointer, and
 * gfortran's hidden length of each CHARACTER argument passed last. */
#ifndef LPS_SPARSITY_LAPACK_H
#define LPS_SPARSITY_LAPACK_H

#include <stddef.h>

/* Cholesky factorisation of a symmetric positive definite matrix. */
void spotrf_(const char *uplo, const int *n, float *a, const int *lda, int *info, size_t uplo_len);
/* Inverse from the Cholesky factor spotrf left in a. */
void spotri_(const char *uplo, const int *n, float *a, const int *lda, int *info, size_t uplo_len);

#endif
