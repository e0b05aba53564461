# tools/stats.mk: see Makefile.am for the shared variables.
