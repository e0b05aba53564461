# tools/slurm.mk: see Makefile.am for the shared variables.
