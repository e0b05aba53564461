/* ref_backend.c: the "ref" backend table: every op, naive. It is the oracle of the tests and
 * a fallback for debugging, not something to run a model on. */
#include "kernels/kernels_internal.h"

static int ref_supports(int op)
{
    return op >= 0 && op < IT_OP_COUNT;
}

static const it_backend ref_backend = {
    .name = "ref",
    .supports = ref_supports,
    .conv3d = it_ref_conv3d,
    .groupnorm = it_ref_groupnorm,
    .silu = it_ref_silu,
    .add = it_ref_add,
    .scale = it_ref_scale,
    .avgpool = it_ref_avgpool,
    .upsample_hw = it_ref_upsample_hw,
    .upsample_t = it_ref_upsample_t,
    .haar_fwd = it_ref_haar_fwd,
    .haar_inv = it_ref_haar_inv,
    .attn_spatial = it_ref_attn_spatial,
    .attn_temporal = it_ref_attn_temporal,
    .linear = it_ref_linear,
    .rmsnorm = it_ref_rmsnorm,
    .rope2d = it_ref_rope2d,
    .mha = it_ref_mha,
    .swiglu = it_ref_swiglu,
    .fsq = it_ref_fsq,
    .fsq_decode = it_ref_fsq_decode,
    .elbo_map = it_ref_elbo_map,
    .mask = it_ref_mask,
};

const it_backend *it_backend_ref(void)
{
    return &ref_backend;
}
