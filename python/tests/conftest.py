"""Fixtures: real token streams and shards made by the C tools from real footage (opencv-doc's
tree.avi and Megamind.avi, center-cropped to 32x32 so that encoding takes seconds).

The tools are found in $INFOTOK_BUILDDIR (what tests/python/test_python.sh sets), else on
PATH; without them, or without opencv-doc, the tests that need them skip."""

import json
import os
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

OPENCV = "/usr/share/doc/opencv-doc/examples/data"
CROP = "32x32"


def tool(name):
    b = os.environ.get("INFOTOK_BUILDDIR")
    if b and os.access(os.path.join(b, name), os.X_OK):
        return os.path.join(b, name)
    return shutil.which(name)


def run(*args, **kw):
    """Run a tool, return its stdout (text); fail the test with its stderr when it fails."""
    exe = tool(args[0])
    p = subprocess.run([exe] + [str(a) for a in args[1:]], capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (" ".join(map(str, args)), p.returncode, p.stderr))
    return p.stdout


def run_status(*args):
    exe = tool(args[0])
    p = subprocess.run([exe] + [str(a) for a in args[1:]], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


class Corpus:
    """Paths of the real data made once per session (see make_corpus)."""


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    if not (tool("it-encode") and tool("it-pack")):
        pytest.skip("the C tools are not built (set INFOTOK_BUILDDIR or PATH)")
    if not os.path.isfile(os.path.join(OPENCV, "tree.avi")):
        pytest.skip("opencv-doc is not installed (scripts/setup-deps.sh)")
    d = tmp_path_factory.mktemp("corpus")
    c = Corpus()
    c.dir = d
    enc = ("it-encode", "-q", "--crop", CROP)
    # a: one short clip (3 windows); b: a longer one (10 windows): their ELBO differs, so the
    # statistic of a part differs from the whole's
    c.a, c.b = d / "a.itok", d / "b.itok"
    run(*enc, "--full-rate", "-o", c.a, os.path.join(OPENCV, "tree.avi"))
    run(*enc, "--full-rate", "-o", c.b, os.path.join(OPENCV, "Megamind.avi"))
    # streams with rates: elbo (no ALLOCATION record) and global_elbo (with one)
    c.rate_elbo = d / "re.itok"
    run(*enc, "--strategy", "elbo", "--avg-rate", "0.4", "-o", c.rate_elbo, os.path.join(OPENCV, "tree.avi"))
    # shards: one per stream, and a set of one-video shards (--shard-size 1) with every video
    # listed four times: 8 shards, 8 videos, ids repeated
    run("it-pack", "-q", "-o", d / "s/a", c.a)
    run("it-pack", "-q", "-o", d / "s/b", c.b)
    c.sa, c.sb = d / "s/a-00000.itshard", d / "s/b-00000.itshard"
    run("it-pack", "-q", "-o", d / "many/m", "--shard-size", "1", *([c.a, c.b] * 4))
    c.many = sorted(str(p) for p in (d / "many").glob("m-*.itshard"))
    # the same 8 videos in one shard (fewer shards than workers)
    run("it-pack", "-q", "-o", d / "one/o", *([c.a, c.b] * 4))
    c.one = [str(d / "one/o-00000.itshard")]
    # a shard allocated over the whole corpus, then kept alone: its alloc entry names the corpus
    c.all_json = d / "all.json"
    c.all_json.write_text(run("it-pack", "elbo-stat", c.a, c.b))
    run("it-pack", "-q", "-o", d / "s/ga", "--avg-rate", "0.5", "--elbo-stat", c.all_json, c.sa)
    c.sga = d / "s/ga-00000.itshard"
    # and the stream it-encode writes with global_elbo over both clips
    c.g = d / "g.itok"
    run(*enc, "--strategy", "global_elbo", "--avg-rate", "0.5", "-o", c.g, os.path.join(OPENCV, "tree.avi"),
        os.path.join(OPENCV, "Megamind.avi"))
    return c


def c_dump(*inputs, elbo=False):
    """it-pack dump's lines."""
    args = ["dump"] + (["--elbo"] if elbo else []) + [str(i) for i in inputs]
    return run("it-pack", *args).splitlines()


def json_lines(lines):
    return [(l.split("\t", 1)[0], json.loads(l.split("\t", 1)[1])) for l in lines
            if l.split("\t", 1)[0] in ("HEADER", "VIDEO", "VIDEO_END", "END")]


def window_part(lines):
    return [l for l in lines if l.split("\t", 1)[0] in ("WINDOW", "TOKENS", "KEEP", "ELBO", "ALLOCATION")]
