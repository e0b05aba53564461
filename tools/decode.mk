# tools/decode.mk: see Makefile.am for the shared variables.
