# formats/: on-disk formats: weight files (the native safetensors layout, the official PyTorch
# checkpoint through a whitelisted pickle reader, the model config and its tensor table), the
# token stream and its typed header, token shards (LMDB + zstd) and the reader that takes
# either, and the CRC-32 they share. Specified in man/infotok-{weights,stream,shard}.5.
libinfotok_impl_la_SOURCES += \
	formats/weights_internal.h formats/pickle_internal.h formats/dtype.c formats/weights.c \
	formats/safetensors.c formats/config.c formats/tensor_table.c formats/pickle.c formats/torch_pt.c \
	formats/tokstream.c formats/stream_header.c formats/crc32.c \
	formats/shard_internal.h formats/shard_common.c formats/shard_record.c formats/shard_write.c \
	formats/shard_read.c formats/records.c
EXTRA_DIST += formats/SHARD-LAYOUT.md

# Fuzzing is never part of `make check` (clang with libFuzzer, minutes of CPU):
#   make fuzz-weights | fuzz-stream | fuzz-shard [FUZZ_SECONDS=60]
FUZZ_SECONDS = 60
fuzz-weights:
	FUZZ_SECONDS=$(FUZZ_SECONDS) $(SHELL) $(top_srcdir)/tests/formats/fuzz.sh $(top_srcdir) $@.work
fuzz-stream:
	FUZZ_SECONDS=$(FUZZ_SECONDS) $(SHELL) $(top_srcdir)/tests/stream/fuzz.sh $(top_srcdir) $@.work
fuzz-shard:
	FUZZ_SECONDS=$(FUZZ_SECONDS) $(SHELL) $(top_srcdir)/tests/pack/fuzz.sh $(top_srcdir) $@.work
.PHONY: fuzz-weights fuzz-stream fuzz-shard
