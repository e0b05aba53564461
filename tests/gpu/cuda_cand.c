/* cuda_cand.c: the backend that tests/gpu/gpu_ops (tests/ops/test_ops.c) holds against ref:
 * the real "cuda" module, found through the library (kernels/backend.c). No module or no
 * GPU: a hard error naming why, since check.sh runs this only where a GPU is expected. */
#include <stdio.h>
#include <stdlib.h>

#include "kernels/it_kernels.h"

const it_backend *it_test_cuda(void);
const it_backend *it_test_cuda(void)
{
    static const it_backend *be;
    if (!be && !(be = it_backend_find("cuda"))) {
        fprintf(stderr, "gpu_ops: %s\n", it_error_message());
        exit(99);
    }
    return be;
}
