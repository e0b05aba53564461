# tools/slurm.mk: see Makefile.am for the shared variables.
TESTS += tests/cli/test_balance.sh
EXTRA_DIST += tests/cli/test_balance.sh
TESTS += tests/cli/test_slurm.sh
EXTRA_DIST += tests/cli/test_slurm.sh examples/slurm examples/parallel
TESTS += tests/cli/test_allocation.sh
EXTRA_DIST += tests/cli/test_allocation.sh
