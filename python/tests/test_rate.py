"""The allocation arithmetic on its own (bit-exactness with the C tools is tested on real
shards in test_allocation.py): the quantile bound against torch.quantile (the definition the
mask follows, when torch is installed) within one ulp, and against a float64 reference within
float32 rounding; the strict '>' with ties; the corpus statistic's fixed-point sums; the
global_elbo rate's clipping."""

import json

import numpy as np
import pytest

import infotok
from infotok.rate import ElboStat, quantile_bound, quantile_mask, rate_for_window

try:
    import torch
except ImportError:
    torch = None

RATES = [0.0625, 0.1, 0.25, 1 / 3, 0.5, 0.75, 0.9, 1.0]


@pytest.mark.skipif(torch is None, reason="python3-torch is not installed")
def test_bound_equals_torch_quantile():
    rng = np.random.default_rng(0)
    for nt in (1, 2, 3, 16, 144, 1000, 9216):
        for dist in ("uniform", "ties"):
            x = rng.random(nt, dtype=np.float32) if dist == "uniform" else \
                rng.integers(0, 5, nt).astype(np.float32) / np.float32(7)
            for r in RATES:
                q = np.float32(1) - np.float32(r)
                want = torch.quantile(torch.from_numpy(x), float(q), interpolation="linear").numpy()
                got = quantile_bound(x, r)
                # one ulp: torch 1.13's CPU lerp kernel may fuse the multiply-add that the C
                # tools (and this package) round twice; the C tools are the reference for bits
                assert got.dtype == np.float32, (nt, dist, r)
                assert abs(int(got.view(np.int32)) - int(want.view(np.int32))) <= 1, (nt, dist, r)


def test_bound_reference():
    """Against numpy's float64 linear quantile: equal within float32 rounding of the
    interpolation (a few ulps of the bound's magnitude)."""
    rng = np.random.default_rng(1)
    for nt in (5, 100, 2304):
        x = rng.random(nt, dtype=np.float32)
        for r in RATES:
            want = np.quantile(x.astype(np.float64), float(np.float32(1) - np.float32(r)))
            assert abs(float(quantile_bound(x, r)) - want) <= 4 * np.spacing(np.float32(max(want, 1e-30)))


def test_mask_rules():
    x = np.array([0, 1, 1, 1, 2, 3, 3, 9], np.float32)
    m = quantile_mask(x, 0.5)  # bound 1.5
    assert m.tolist() == [False, False, False, False, True, True, True, True]
    assert not quantile_mask(np.ones(10, np.float32), 0.5).any()  # ties with the bound are dropped
    assert quantile_mask(x, 1.0).sum() == 7  # rate 1: the minimum itself is not above the bound
    nan = x.copy()
    nan[2] = np.nan
    assert not quantile_mask(nan, 0.5).any()
    with pytest.raises(infotok.AllocationError):
        quantile_mask(x, 1.5)


def test_elbo_stat():
    s = ElboStat()
    means = np.array([0.25, 0.1, 1e-12, 3.0], np.float32)
    for m in means:
        s.add(m)
    assert s.count == 4
    assert s.sum_fixed == sum(int(float(m) * 2.0**32) for m in means)
    # order-independent, and partial sums add up
    a, b = ElboStat().add(means[0]).add(means[1]), ElboStat().add(means[3]).add(means[2])
    assert a.merge(b) == s
    assert s.mean() == np.float32(s.sum_fixed / 2.0**32 / 4)
    assert ElboStat.from_json(s.to_json()) == s
    assert json.loads(s.to_json())["sum_fixed"] == str(s.sum_fixed)
    assert ElboStat().mean() == 0
    with pytest.raises(infotok.AllocationError):
        ElboStat.from_json('{"count": 1}')


def test_rate_for_window():
    f = np.float32
    assert rate_for_window("static", 0.3, 5, 1) == f(0.3)
    assert rate_for_window("global_elbo", 0.5, f(0.2), f(0.4)) == f(0.25)
    assert rate_for_window("global_elbo", 0.5, f(100), f(0.4)) == f(1)
    assert rate_for_window("global_elbo", 0.5, f(0), f(0.4)) == f(0.0625)
    assert rate_for_window("global_elbo", 0.5, f(1), f(0)) == f(0.5)  # no information to spread
    r = rate_for_window("global_elbo", f(0.3), f(0.123), f(0.456))
    assert r.dtype == np.float32 and r == (f(0.3) * f(0.123)) / f(0.456)
