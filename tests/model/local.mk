# tests/model: the network against its PyTorch reference (committed fixtures).
# Fixtures and their generators (PyTorch reference; regenerating needs /usr/bin/python3 + torch).
EXTRA_DIST += tests/model/README.md tests/model/infotok_ref.py tests/model/safetensors_io.py \
	tests/model/make_fixtures.py tests/model/make_official_pt.py tests/model/verify_official.py tests/model/verify_official.txt \
	tests/model/fixtures/tiny.safetensors tests/model/fixtures/tiny_io.safetensors \
	tests/model/fixtures/ops.safetensors
EXTRA_DIST += tests/model/make_small2_fixture.py tests/model/fixtures/small2.safetensors \
	tests/model/fixtures/small2_io.safetensors
