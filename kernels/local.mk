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
	kernels/cpu/cpu_bf16_native.c kernels/cpu/cpu_bf16_attn.c kernels/cpu/cpu_bf16_norm.c \
	kernels/cpu/cpu_dispatch.c kernels/cpu/cpu_x86_avx2.c kernels/cpu/cpu_x86_avx512.c
kernels_libitcpu_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden -ffp-contract=fast -ftree-vectorize \
	-fvect-cost-model=dynamic
libinfotok_impl_la_LIBADD += kernels/libitcpu.la

# kernels/bench: times each cpu op against its ref twin (not a test; see kernels/BENCH.md).
noinst_PROGRAMS += kernels/bench/bench_ops
kernels_bench_bench_ops_SOURCES = kernels/bench/bench_ops.c
EXTRA_DIST += kernels/BENCH.md

# kernels/cuda/: the CUDA backend. One kernel source (cuda_ops.cu) for two compilers: nvcc
# builds it into the module below; g++ builds it with the CPU execution shim (shim/) into
# tests/ops/test_cuda_ops, so make check runs every kernel without a GPU.
EXTRA_DIST += kernels/cuda/cuda_ops.cu kernels/cuda/cuda_ops.h kernels/cuda/shim/cuda_shim.h \
	kernels/cuda/cuda_backend.c kernels/cuda/cuda_blas.c kernels/cuda/cuda_blas.h

if HAVE_CUDA
# The module infotok-cuda.so, loaded by the library on first use of "cuda" (kernels/backend.c)
# and installed into $(pkglibdir). Plain rules rather than libtool: nvcc is no libtool
# compiler. It links the CUDA runtime and cuBLAS, and leaves the it_* symbols it uses to be
# resolved from the libinfotok already in the process (so it works with the shared library
# and with a statically linked program built with --export-dynamic).
CUDA_MODULE = kernels/cuda/infotok-cuda.so
CUDA_MODULE_OBJS = kernels/cuda/cuda_ops.o kernels/cuda/cuda_backend.o kernels/cuda/cuda_blas.o \
	kernels/cuda/ref_fsq.o
CUDA_CPPFLAGS = -I$(top_srcdir)/include -I$(top_srcdir)/src -I$(top_srcdir) -I$(top_builddir) -D_GNU_SOURCE
CUDA_MODULE_CFLAGS = -std=c11 -Wall -Wextra -Wno-unused-parameter -fPIC -fvisibility=hidden $(CUDA_CFLAGS) $(CFLAGS)
CUDA_HDRS = $(top_srcdir)/kernels/it_kernels.h $(top_srcdir)/kernels/kernels_internal.h \
	$(top_srcdir)/kernels/cuda/cuda_ops.h $(top_srcdir)/kernels/cuda/cuda_blas.h
kernels/cuda/cuda_ops.o: $(top_srcdir)/kernels/cuda/cuda_ops.cu $(CUDA_HDRS)
	@$(MKDIR_P) kernels/cuda
	$(AM_V_GEN)$(NVCC) -std=c++17 -O3 $(NVCC_ARCH) $(CUDA_CPPFLAGS) -Xcompiler -fPIC,-fvisibility=hidden \
	  -c -o $@ $(top_srcdir)/kernels/cuda/cuda_ops.cu
kernels/cuda/cuda_backend.o: $(top_srcdir)/kernels/cuda/cuda_backend.c $(CUDA_HDRS)
	@$(MKDIR_P) kernels/cuda
	$(AM_V_CC)$(CC) $(CUDA_CPPFLAGS) $(CUDA_MODULE_CFLAGS) -c -o $@ $(top_srcdir)/kernels/cuda/cuda_backend.c
kernels/cuda/cuda_blas.o: $(top_srcdir)/kernels/cuda/cuda_blas.c $(CUDA_HDRS)
	@$(MKDIR_P) kernels/cuda
	$(AM_V_CC)$(CC) $(CUDA_CPPFLAGS) $(CUDA_MODULE_CFLAGS) -c -o $@ $(top_srcdir)/kernels/cuda/cuda_blas.c
kernels/cuda/ref_fsq.o: $(top_srcdir)/kernels/ref/ref_fsq.c $(CUDA_HDRS)
	@$(MKDIR_P) kernels/cuda
	$(AM_V_CC)$(CC) $(CUDA_CPPFLAGS) $(CUDA_MODULE_CFLAGS) -c -o $@ $(top_srcdir)/kernels/ref/ref_fsq.c
$(CUDA_MODULE): $(CUDA_MODULE_OBJS)
	$(AM_V_CCLD)$(CXX) -shared -o $@ $(CUDA_MODULE_OBJS) $(CUDA_LIBS)
all-local: $(CUDA_MODULE)
install-exec-local: $(CUDA_MODULE)
	$(MKDIR_P) '$(DESTDIR)$(pkglibdir)'
	$(INSTALL_PROGRAM) $(CUDA_MODULE) '$(DESTDIR)$(pkglibdir)/infotok-cuda.so'
uninstall-local:
	rm -f '$(DESTDIR)$(pkglibdir)/infotok-cuda.so'
endif
clean-local: clean-local-cuda
clean-local-cuda:
	rm -f kernels/cuda/infotok-cuda.so kernels/cuda/*.o
.PHONY: clean-local-cuda
