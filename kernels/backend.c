/* backend.c: the backend registry, contexts, op and precision names, and the shape and
 * constant helpers shared by all backends. It holds no compute; the tables themselves live in
 * ref/ref_backend.c and cpu/cpu_backend.c. */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "error_internal.h"
#include "kernels/it_kernels.h"

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
    [IT_OP_PIXELS_IN] = "pixels_in",
    [IT_OP_PIXELS_OUT] = "pixels_out",
    [IT_OP_TRANSPOSE] = "transpose",
    [IT_OP_ADD_ROWS] = "add_rows",
};

static const char *const precision_names[IT_PRECISION_COUNT] = {"fp32", "bf16"};

const char *it_precision_name(int precision)
{
    return precision >= 0 && precision < IT_PRECISION_COUNT ? precision_names[precision] : NULL;
}

int it_precision_parse(const char *name, int *precision)
{
    for (int i = 0; name && i < IT_PRECISION_COUNT; i++)
        if (!strcmp(name, precision_names[i])) {
            *precision = i;
            return 0;
        }
    return it_error_set(IT_E_INVALID, "unknown precision '%s' (fp32 or bf16)", name ? name : "(null)");
}

size_t it_precision_size(int precision)
{
    return precision == IT_PRECISION_BF16 ? sizeof(it_bf16) : sizeof(float);
}

/* Haar: fp32 uses the exact product of the filters (1/sqrt2)^3 with the 1/(2 sqrt2) rescale,
 * i.e. 1/8 forward and 1 inverse. bf16 rounds the filter to 0.70703125 (spec 3.7) and keeps
 * the rescale; the products are computed in double and rounded once to fp32. */
float it_haar_fwd_scale(int precision)
{
    if (precision != IT_PRECISION_BF16)
        return 0.125f;
    const double a = 0.70703125;
    return (float)(a * a * a / (2.0 * sqrt(2.0)));
}

float it_haar_inv_scale(int precision)
{
    if (precision != IT_PRECISION_BF16)
        return 1.0f;
    const double a = 0.70703125;
    return (float)(a * a * a * 2.0 * sqrt(2.0));
}

const char *it_op_name(int op)
{
    return op >= 0 && op < IT_OP_COUNT ? op_names[op] : NULL;
}

int it_conv3d_out_shape(const it_conv3d_params *p, int *to, int *ho, int *wo)
{
    if (p->n < 1 || p->ci < 1 || p->co < 1 || p->t < 1 || p->h < 1 || p->w < 1 || p->kt < 1 || p->kh < 1 ||
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
static const it_backend *registered(const char *name);

int it_backend_register(const it_backend *be)
{
    if (!be || !be->name || !be->supports || !be->open || !be->close)
        return it_error_set(IT_E_INVALID, "backend registration: missing name, supports(), open() or close()");
    if (!strcmp(be->name, "ref") || !strcmp(be->name, "cpu") || registered(be->name))
        return it_error_set(IT_E_INVALID, "backend '%s' is already registered", be->name);
    if (registry_n == MAX_BACKENDS)
        return it_error_set(IT_E_UNSUPPORTED, "backend '%s': registry full", be->name);
    registry[registry_n++] = be;
    return 0;
}

static const it_backend *registered(const char *name)
{
    for (int i = 0; i < registry_n; i++)
        if (!strcmp(registry[i]->name, name))
            return registry[i];
    return NULL;
}

/* The cuda backend is a module (infotok-cuda.so, built by configure --enable-cuda), loaded on
 * first use, so that the library itself never needs libcudart: a machine without the CUDA
 * runtime simply has no "cuda" backend. The module resolves it_* symbols against the library
 * already in the process and registers its table from it_cuda_module_init(). One attempt per
 * process; a failure leaves its reason as the thread's error message. */
const char *it_cuda_module_path(void); /* src/paths.c */
static const it_backend *load_cuda_module(void)
{
    static int tried;
    static char why[512];
    if (tried) {
        if (why[0])
            it_error_set(IT_E_UNSUPPORTED, "%s", why);
        return registered("cuda");
    }
    tried = 1;
    const char *path = it_cuda_module_path();
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(why, sizeof why, "no CUDA backend: cannot load %s (%s)", path, e ? e : "unknown error");
    } else {
        int (*init)(void) = (int (*)(void))dlsym(h, "it_cuda_module_init");
        if (!init)
            snprintf(why, sizeof why, "no CUDA backend: %s lacks it_cuda_module_init", path);
        else if (init() < 0)
            snprintf(why, sizeof why, "no CUDA backend: %s: %s", path, it_error_message());
    }
    if (why[0]) {
        it_error_set(IT_E_UNSUPPORTED, "%s", why);
        return NULL;
    }
    return registered("cuda");
}

const it_backend *it_backend_find(const char *name)
{
    if (!name)
        return NULL;
    if (!strcmp(name, "ref"))
        return it_backend_ref();
    if (!strcmp(name, "cpu"))
        return it_backend_cpu();
    const it_backend *be = registered(name);
    if (!be && !strcmp(name, "cuda"))
        be = load_cuda_module();
    return be;
}

/* 1 when the table has an entry for op. */
static int has_entry(const it_backend *be, int op)
{
    switch (op) {
    case IT_OP_CONV3D: return be->conv3d != NULL;
    case IT_OP_GROUPNORM: return be->groupnorm != NULL;
    case IT_OP_SILU: return be->silu != NULL;
    case IT_OP_ADD: return be->add != NULL;
    case IT_OP_SCALE: return be->scale != NULL;
    case IT_OP_AVGPOOL: return be->avgpool != NULL;
    case IT_OP_UPSAMPLE_HW: return be->upsample_hw != NULL;
    case IT_OP_UPSAMPLE_T: return be->upsample_t != NULL;
    case IT_OP_HAAR_FWD: return be->haar_fwd != NULL;
    case IT_OP_HAAR_INV: return be->haar_inv != NULL;
    case IT_OP_ATTN_SPATIAL: return be->attn_spatial != NULL;
    case IT_OP_ATTN_TEMPORAL: return be->attn_temporal != NULL;
    case IT_OP_LINEAR: return be->linear != NULL;
    case IT_OP_RMSNORM: return be->rmsnorm != NULL;
    case IT_OP_ROPE2D: return be->rope2d != NULL;
    case IT_OP_MHA: return be->mha != NULL;
    case IT_OP_SWIGLU: return be->swiglu != NULL;
    case IT_OP_FSQ: return be->fsq != NULL;
    case IT_OP_FSQ_DECODE: return be->fsq_decode != NULL;
    case IT_OP_ELBO_MAP: return be->elbo_map != NULL;
    case IT_OP_PIXELS_IN: return be->pixels_in != NULL;
    case IT_OP_PIXELS_OUT: return be->pixels_out != NULL;
    case IT_OP_TRANSPOSE: return be->transpose != NULL;
    case IT_OP_ADD_ROWS: return be->add_rows != NULL;
    }
    return 0;
}

int it_backend_require(const it_backend *be, int op, int precision)
{
    if (!be)
        return it_error_set(IT_E_INVALID, "no backend");
    if (op < 0 || op >= IT_OP_COUNT)
        return it_error_set(IT_E_INVALID, "backend '%s': unknown op %d", be->name, op);
    if (!it_precision_name(precision))
        return it_error_set(IT_E_INVALID, "backend '%s': unknown precision %d", be->name, precision);
    if (!be->supports(op, precision) || !has_entry(be, op))
        return it_error_set(IT_E_UNSUPPORTED, "backend '%s' does not implement op '%s' in %s", be->name,
                            op_names[op], precision_names[precision]);
    return 0;
}

int it_ctx_open(const it_backend *be, const it_ctx_opts *o, it_ctx **out)
{
    *out = NULL;
    if (!be)
        return it_error_set(IT_E_INVALID, "no backend");
    if (!be->alloc || !be->free || !be->upload || !be->download || !be->copy || !be->sync)
        return it_error_set(IT_E_UNSUPPORTED, "backend '%s' lacks memory functions", be->name);
    int rc = be->open(o, out);
    if (rc < 0)
        return rc;
    if (!*out || (*out)->be != be)
        return it_error_set(IT_E_INTERNAL, "backend '%s' opened a malformed context", be->name);
    return 0;
}

void it_ctx_close(it_ctx **ctx)
{
    if (!ctx || !*ctx)
        return;
    (*ctx)->be->close(*ctx);
    *ctx = NULL;
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
