# tools/pack.mk: see Makefile.am for the shared variables.
