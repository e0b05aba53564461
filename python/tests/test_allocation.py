"""Re-allocation in Python equals the C tools', bit for bit: every strategy at several rates,
over streams, single shards and shard sets, with and without ALLOCATION records, and the
corpus statistic policy of infotok(7) (elbo_stat, the inputs' shared allocation, their own
windows; mixtures refused)."""


import numpy as np
import pytest

import infotok
from conftest import c_dump, run, run_status, window_part
from test_formats import py_dump


def masks(lines):
    """Window lines without the ordinals (a set's ordinals differ from its inputs')."""
    out = []
    for l in window_part(lines):
        if l.startswith("ALLOCATION"):  # one per input in a dump of several inputs
            continue
        if l.startswith("WINDOW"):
            l = " ".join(x for x in l.split(" ") if not x.startswith("WINDOW\tvideo="))
        out.append(l)
    return out


# each strategy once, and the two ends of the rate range
@pytest.mark.parametrize("strategy, rate", [("static", "0.0625"), ("elbo", "1"), ("global_elbo", "0.3"),
                                            ("global_elbo", "0.0625")])
def test_shard_set(corpus, tmp_path, strategy, rate):
    inputs = [corpus.sa, corpus.sb]
    run("it-pack", "-q", "-o", tmp_path / "r", "--avg-rate", rate, "--strategy", strategy, *inputs)
    want = masks(c_dump(tmp_path / "r-00000.itshard"))
    assert masks(py_dump("--avg-rate", rate, "--strategy", strategy, *inputs)) == want
    assert sum(l.startswith("KEEP") for l in want) == 13


def test_streams_and_encode(corpus, tmp_path):
    """global_elbo over full-rate streams (their windows' statistic) gives it-encode's masks."""
    want = masks(c_dump(corpus.g))
    assert masks(py_dump("--avg-rate", "0.5", corpus.a, corpus.b)) == want
    # and re-applying the stream's own ALLOCATION record to it gives its masks again
    st = infotok.Stream(corpus.g)
    assert st.allocation.strategy_name == "global_elbo"
    for v in st.videos:
        for w in v["windows"]:
            w2 = infotok.apply(w, st.allocation)
            assert np.array_equal(w2.keep, w.keep) and w2.rate == w.rate and w2.kept == w.kept
    # a stream with rates but no ALLOCATION (elbo): re-applying elbo at its rate, same masks
    a = infotok.allocation("elbo", 0.4)
    for kind, w in infotok.read_stream(corpus.rate_elbo):
        if kind == "WINDOW":
            assert np.array_equal(infotok.apply(w, a).keep, w.keep)


def test_one_of_many(corpus, tmp_path):
    """A shard allocated over a larger corpus keeps that corpus's statistic; its own differs."""
    stat, origin = infotok.corpus_stat([str(corpus.sga)])
    assert origin == "allocation"
    assert stat == infotok.ElboStat.from_json(str(corpus.all_json))
    run("it-pack", "-q", "-o", tmp_path / "r", "--avg-rate", "0.25", corpus.sga)
    want = masks(c_dump(tmp_path / "r-00000.itshard"))
    assert masks(py_dump("--avg-rate", "0.25", corpus.sga)) == want
    # --elbo-stat of the shard's own windows gives other masks: the test can see the difference
    own = masks(py_dump("--avg-rate", "0.25", "--elbo-stat", corpus.all_json, corpus.sa))
    assert own == want
    part = infotok.corpus_stat([str(corpus.sa)])[0]
    assert part != stat
    assert masks(py_dump("--avg-rate", "0.25", corpus.sa)) != want
    # the shard's stored masks read as they are equal it-pack dump's
    assert masks(py_dump(corpus.sga)) == masks(c_dump(corpus.sga))


def test_elbo_stat(corpus):
    for inputs in ([corpus.a, corpus.b], [corpus.sa, corpus.sb], [corpus.sga]):
        want = run("it-pack", "elbo-stat", *inputs).strip()
        got = infotok.ElboStat()
        for p in inputs:
            got.merge(infotok.rate.input_stat(str(p))[0])
        assert got.to_json() == want and got == infotok.ElboStat.from_json(want)


def test_mixture_refused(corpus):
    st, _out, err = run_status("it-pack", "-q", "-o", "/nonexistent/x", "--avg-rate", "0.5", corpus.sga, corpus.b)
    assert st == 3 and "elbo-stat" in err
    with pytest.raises(infotok.AllocationError) as e:
        infotok.corpus_stat([str(corpus.sga), str(corpus.b)])
    assert str(corpus.sga) in str(e.value) and str(corpus.b) in str(e.value) and "elbo_stat" in str(e.value)
    # naming the corpus resolves it
    stat, origin = infotok.corpus_stat([str(corpus.sga), str(corpus.b)], elbo_stat=str(corpus.all_json))
    assert origin == "elbo_stat" and stat.count > 0
