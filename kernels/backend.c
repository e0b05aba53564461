/* backend.c: the backend registry, op names and the shape helpers shared by all backends.
 * It holds no compute; the tables themselves live in ref/ref_backend.c and cpu/cpu_backend.c. */
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "error_internal.h"
#include "kernels/it_kernels_v1.h"

const int it_fsq_levels[IT_FSQ_DIM] = {8, 8, 8, 5, 5, 5};
const int it_fsq_basis[IT_FSQ_DIM] = {1, 8, 64, 512, 2560, 12800};

static const char *const op_names[IT_OP_COUNT] = {
    [IT_OP_CONV3D] = "conv3d",
    [IT_OP_GROUPNORM] = "groupnorm",
    [IT_OP_SILU] = "silu",
    [IT_OP_ADD] = "add",
    [IT_OP_SCALE] = "scale",
    [IT_OP_AVGPOOL] = "avgpool",
    [IT_OP_UPSAMPLE_HW] = "upsample_hw",
    [IT_OP_UPSAMPLE_T] = "upsample_t",
    [IT_OP_HAAR_FWD] = "haar_fwd",
    [IT_OP_HAAR_INV] = "haar_inv",
    [IT_OP_ATTN_SPATIAL] = "attn_spatial",
    [IT_OP_ATTN_TEMPORAL] = "attn_temporal",
    [IT_OP_LINEAR] = "linear",
    [IT_OP_RMSNORM] = "rmsnorm",
    [IT_OP_ROPE2D] = "rope2d",
    [IT_OP_MHA] = "mha",
    [IT_OP_SWIGLU] = "swiglu",
    [IT_OP_FSQ] = "fsq",
    [IT_OP_FSQ_DECODE] = "fsq_decode",
    [IT_OP_ELBO_MAP] = "elbo_map",
    [IT_OP_MASK] = "mask",
};

const char *it_op_name(int op)
{
    return op >= 0 && op < IT_OP_COUNT ? op_names[op] : NULL;
}

int it_conv3d_out_shape(const it_conv3d_params *p, int *to, int *ho, int *wo)
{
    if (p->ci < 1 || p->co < 1 || p->t < 1 || p->h < 1 || p->w < 1 || p->kt < 1 || p->kh < 1 ||
        p->kw < 1 || p->st < 1 || p->sh < 1 || p->sw < 1 || p->tpad < 0 || p->pad_top < 0 ||
        p->pad_bottom < 0 || p->pad_left < 0 || p->pad_right < 0)
        return it_error_set(IT_E_SHAPE, "conv3d: negative or zero size");
    int tt = p->t + p->tpad, hh = p->h + p->pad_top + p->pad_bottom,
        ww = p->w + p->pad_left + p->pad_right;
    if (tt < p->kt || hh < p->kh || ww < p->kw)
        return it_error_set(IT_E_SHAPE, "conv3d: kernel %dx%dx%d larger than padded input %dx%dx%d",
                            p->kt, p->kh, p->kw, tt, hh, ww);
    *to = (tt - p->kt) / p->st + 1;
    *ho = (hh - p->kh) / p->sh + 1;
    *wo = (ww - p->kw) / p->sw + 1;
    return 0;
}

/* Built-ins plus a few registered backends; a process has at most one or two. */
#define MAX_BACKENDS 8
static const it_backend *registry[MAX_BACKENDS];
static int registry_n;

int it_backend_register(const it_backend *be)
{
    if (!be || !be->name || !be->supports)
        return it_error_set(IT_E_INVALID, "backend registration: missing name or supports()");
    if (it_backend_find(be->name))
        return it_error_set(IT_E_INVALID, "backend '%s' is already registered", be->name);
    if (registry_n == MAX_BACKENDS)
        return it_error_set(IT_E_UNSUPPORTED, "backend '%s': registry full", be->name);
    registry[registry_n++] = be;
    return 0;
}

const it_backend *it_backend_find(const char *name)
{
    if (!name)
        return NULL;
    if (!strcmp(name, "ref"))
        return it_backend_ref();
    if (!strcmp(name, "cpu"))
        return it_backend_cpu();
    for (int i = 0; i < registry_n; i++)
        if (!strcmp(registry[i]->name, name))
            return registry[i];
    return NULL;
}

int it_backend_require(const it_backend *be, int op)
{
    if (!be)
        return it_error_set(IT_E_INVALID, "no backend");
    if (op < 0 || op >= IT_OP_COUNT)
        return it_error_set(IT_E_INVALID, "backend '%s': unknown op %d", be->name, op);
    if (!be->supports(op))
        return it_error_set(IT_E_UNSUPPORTED, "backend '%s' does not implement op '%s'", be->name,
                            op_names[op]);
    return 0;
}

void it_kernels_set_threads(int n)
{
#ifdef _OPENMP
    static int default_threads;
    if (!default_threads)
        default_threads = omp_get_max_threads();
    omp_set_num_threads(n > 0 ? n : default_threads);
#else
    (void)n;
#endif
}

int it_kernels_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
