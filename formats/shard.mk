# formats/shard.mk: see Makefile.am for the shared variables.
