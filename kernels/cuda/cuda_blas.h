/* cuda_blas.h: the cuda backend's cuBLAS calls (cuda_blas.c), the one file that knows cuBLAS's
 * column-major conventions. Not part of any public interface. */
#ifndef IT_CUDA_BLAS_H
#define IT_CUDA_BLAS_H

/* A cuBLAS handle bound to stream (a cudaStream_t); 0 or IT_E_UNSUPPORTED with a message. */
int itc_blas_create(void **handle, void *stream);
void itc_blas_destroy(void *handle); /* NULL-safe */
/* The itc_env GEMM contract (cuda_ops.h): row-major C[m][n] (ldc, fp32) = A[m][k] (lda) * B,
 * B = [k][n] (ldb) or the transpose of [n][k] (ldb) with b_trans; A and B of type
 * IT_PRECISION_* ; fp32 accumulation, no TF32. Queued on the handle's stream. */
int itc_blas_gemm(void *handle, int type, int m, int n, int k, const void *a, int lda, const void *b, int ldb,
                  int b_trans, float *c, int ldc);

#endif
