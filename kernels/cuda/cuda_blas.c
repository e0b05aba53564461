/* cuda_blas.c: every cuBLAS call of the cuda backend, in one place, so that a GPU run can
 * check the layout mapping op by op (tests/gpu/check.sh runs tests/ops/test_ops.c on this
 * backend: linear, swiglu and conv3d are the GEMM's users).
 * The mapping: a row-major matrix X[r][c] with leading dimension ld is, to column-major
 * cuBLAS, X^T (c x r) with the same ld. So row-major C = A * op(B) is column-major
 * C^T = op(B)^T * A^T: cuBLAS's first operand is B (N when B is [k][n], T when B is stored
 * [n][k]), its second A (N), m and n swap, and C comes out row-major [m][n] as asked.
 * Precision: cublasGemmEx with CUBLAS_COMPUTE_32F: fp32 products and sums (never TF32; bf16
 * inputs are widened exactly), C in fp32; the op's epilogue adds the bias and rounds once. */
#include <cublas_v2.h>

#include "infotok/core.h"
#include "kernels/cuda/cuda_blas.h"
#include "kernels/it_kernels.h"

static const char *status_name(cublasStatus_t s)
{
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "invalid value";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "architecture mismatch";
    case CUBLAS_STATUS_MAPPING_ERROR: return "mapping error";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "execution failed";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "internal error";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "not supported";
    default: return "unknown status";
    }
}

int itc_blas_create(void **handle, void *stream)
{
    cublasHandle_t h = NULL;
    cublasStatus_t s = cublasCreate(&h);
    if (s == CUBLAS_STATUS_SUCCESS)
        s = cublasSetStream(h, (cudaStream_t)stream);
    /* default math: no TF32 tensor-op shortcut for fp32 (CUBLAS_COMPUTE_32F also forbids it) */
    if (s == CUBLAS_STATUS_SUCCESS)
        s = cublasSetMathMode(h, CUBLAS_DEFAULT_MATH);
    if (s != CUBLAS_STATUS_SUCCESS) {
        if (h)
            cublasDestroy(h);
        *handle = NULL;
        return it_error_set(IT_E_UNSUPPORTED, "cuBLAS: cannot create a handle (%s)", status_name(s));
    }
    *handle = h;
    return 0;
}

void itc_blas_destroy(void *handle)
{
    if (handle)
        cublasDestroy((cublasHandle_t)handle);
}

int itc_blas_gemm(void *handle, int type, int m, int n, int k, const void *a, int lda, const void *b, int ldb,
                  int b_trans, float *c, int ldc)
{
    const float one = 1.0f, zero = 0.0f;
    const cudaDataType_t t = type == IT_PRECISION_BF16 ? CUDA_R_16BF : CUDA_R_32F;
    cublasStatus_t s = cublasGemmEx((cublasHandle_t)handle, b_trans ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N, n,
                                    m, k, &one, b, t, ldb, a, t, lda, &zero, c, CUDA_R_32F, ldc,
                                    CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (s != CUBLAS_STATUS_SUCCESS)
        return it_error_set(IT_E_UNSUPPORTED, "cuBLAS GEMM %dx%dx%d (%s, B%s): %s", m, n, k,
                            it_precision_name(type), b_trans ? "^T" : "", status_name(s));
    return 0;
}
