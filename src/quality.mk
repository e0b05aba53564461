# src/quality.mk: see Makefile.am for the shared variables.
