# kernels/: the network's ops behind a backend table (kernels/it_kernels.h): ref/ is the naive
# oracle of every op (fp32 and the bf16 rounding rules), cpu/ the OpenMP + SIMD backend.
libinfotok_impl_la_SOURCES += \
	kernels/it_kernels.h kernels/kernels_internal.h kernels/backend.c kernels/host.c \
	kernels/bf16_wrap.c \
	kernels/ref/ref_backend.c kernels/ref/ref_conv.c kernels/ref/ref_norm.c \
	kernels/ref/ref_resample.c kernels/ref/ref_haar.c kernels/ref/ref_attn.c \
	kernels/ref/ref_linear.c kernels/ref/ref_fsq.c kernels/ref/ref_elbo.c kernels/ref/ref_pixels.c

# The cpu backend is a convenience library only so that it gets its own flags:
# -ffp-contract=fast (-std=c11 turns multiply-add contraction off, which halves the SGEMM
# micro-kernel's throughput) and loop vectorisation with the dynamic cost model (GCC's -O2
# only vectorises loops that need no epilogue). Its results are tested against ref with
# tolerances, not bits.
noinst_LTLIBRARIES += kernels/libitcpu.la
kernels_libitcpu_la_SOURCES = \
	kernels/cpu/cpu_internal.h kernels/cpu/cpu_backend.c kernels/cpu/cpu_gemm.c \
	kernels/cpu/cpu_conv.c kernels/cpu/cpu_linear.c kernels/cpu/cpu_norm.c \
	kernels/cpu/cpu_resample.c kernels/cpu/cpu_attn.c kernels/cpu/cpu_bf16_wrap.c \
	kernels/cpu/cpu_bf16_native.c kernels/cpu/cpu_bf16_norm.c \
	kernels/cpu/cpu_dispatch.c kernels/cpu/cpu_x86_avx2.c kernels/cpu/cpu_x86_avx512.c
kernels_libitcpu_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden -ffp-contract=fast -ftree-vectorize \
	-fvect-cost-model=dynamic
libinfotok_impl_la_LIBADD += kernels/libitcpu.la

# kernels/bench: times each cpu op against its ref twin (not a test; see kernels/BENCH.md).
noinst_PROGRAMS += kernels/bench/bench_ops
kernels_bench_bench_ops_SOURCES = kernels/bench/bench_ops.c
EXTRA_DIST += kernels/BENCH.md
