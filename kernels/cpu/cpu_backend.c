/* cpu_backend.c: the "cpu" backend table. FSQ, the ELBO map and the mask point at the ref
 * functions on purpose: they are cheap, and tokens and masks must be bit-identical across
 * backends and between it-encode and it-pack. */
#include "kernels/cpu/cpu_internal.h"

static int cpu_supports(int op)
{
    return op >= 0 && op < IT_OP_COUNT;
}

static const it_backend cpu_backend = {
    .name = "cpu",
    .supports = cpu_supports,
    .conv3d = it_cpu_conv3d,
    .groupnorm = it_cpu_groupnorm,
    .silu = it_cpu_silu,
    .add = it_cpu_add,
    .scale = it_cpu_scale,
    .avgpool = it_cpu_avgpool,
    .upsample_hw = it_cpu_upsample_hw,
    .upsample_t = it_cpu_upsample_t,
    .haar_fwd = it_cpu_haar_fwd,
    .haar_inv = it_cpu_haar_inv,
    .attn_spatial = it_cpu_attn_spatial,
    .attn_temporal = it_cpu_attn_temporal,
    .linear = it_cpu_linear,
    .rmsnorm = it_cpu_rmsnorm,
    .rope2d = it_cpu_rope2d,
    .mha = it_cpu_mha,
    .swiglu = it_cpu_swiglu,
    .fsq = it_ref_fsq,
    .fsq_decode = it_ref_fsq_decode,
    .elbo_map = it_ref_elbo_map,
    .mask = it_ref_mask,
};

const it_backend *it_backend_cpu(void)
{
    return &cpu_backend;
}
