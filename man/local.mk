# man/: one page per tool (section 1), per format (section 5), and overviews (section 7).
dist_man_MANS += man/it-scan.1 man/it-encode.1 man/it-convert.1 man/it-pack.1 man/it-decode.1 \
	man/it-stats.1 man/infotok-weights.5 man/infotok-stream.5 man/infotok-shard.5 man/infotok.7 \
	man/infotok-precision.7
