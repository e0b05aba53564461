# formats/shard.mk: token shards (formats/shard.h, infotok-shard(5)) and the reader that takes
# streams or shards (formats/records.h).
libinfotok_la_SOURCES += formats/shard.h formats/shard_internal.h formats/shard_common.c \
	formats/shard_record.c formats/shard_write.c formats/shard_read.c \
	formats/records.h formats/records.c
dist_man_MANS += man/infotok-shard.5
