"""The memory planner on its own, with synthetic graphs (no torch)."""

import numpy as np
from mcudeploy.ir import Graph, Op, Tensor
from mcudeploy.plan import check, maxpool_in_place_ok, plan


def chain(sizes, kinds=None):
    tensors = {"x": Tensor("x", (sizes[0],), 1.0, 0)}
    ops = []
    prev = "x"
    for i, s in enumerate(sizes[1:]):
        name = f"t{i}"
        tensors[name] = Tensor(name, (s,), 1.0, 0)
        kind = (kinds or {}).get(i, "fc")
        ops.append(Op(name, kind, [prev], name, {"act": [-128, 127]}))
        prev = name
    return Graph(tensors, ops, "x", prev)


def test_chain_reuses_two_buffers():
    g = chain([100, 400, 300, 200, 10])
    p = plan(g)
    check(g, p)
    # input and output are the caller's; t0..t2 need only two live at once: 400 + 300
    assert p.arena_bytes == 700
    assert p.where["x"] == ("input", 0) and p.where["t3"] == ("output", 0)


def test_branches_keep_live_tensors_apart():
    t = {n: Tensor(n, (s,), 1.0, 0) for n, s in [("x", 8), ("a", 64), ("b", 64), ("c", 64), ("y", 64)]}
    ops = [Op("a", "fc", ["x"], "a"), Op("b", "fc", ["a"], "b"), Op("c", "fc", ["b"], "c"),
           Op("y", "add", ["a", "c"], "y", {"act": [-128, 127]})]
    g = Graph(t, ops, "x", "y")
    p = plan(g)
    check(g, p)
    # a lives until the add, so b and c must not overlap it; b and c may share
    assert p.where["a"] != p.where["b"] and p.where["a"] != p.where["c"]
    assert p.arena_bytes == 128


def test_in_place_clamp_aliases_its_input():
    g = chain([16, 32, 32, 4], kinds={1: "clamp"})
    p = plan(g)
    check(g, p)
    assert p.where["t0"] == p.where["t1"]
    assert p.arena_bytes == 32


def test_maxpool_in_place_condition():
    assert maxpool_in_place_ok((8, 8, 4), (4, 4, 4), (2, 2), (2, 2), (0, 0))
    assert maxpool_in_place_ok((28, 28, 6), (14, 14, 6), (2, 2), (2, 2), (0, 0))
    # stride < kernel with padding: the window of output 1 starts before output 1's position
    assert not maxpool_in_place_ok((8, 8, 4), (8, 8, 4), (3, 3), (1, 1), (1, 1))


def test_a_shrinking_in_place_write_never_ends_in_the_output_buffer():
    """A max-pool written over its input, then a clamp in place producing the graph's output: the
    pool's 512-byte input must not join the caller's 128-byte output buffer (a U-Net's last pointwise
    conv did, in place and then a sigmoid in place, and overran the output buffer on the board)."""
    t = {n: Tensor(n, s, 1.0, 0) for n, s in [("x", (8, 8, 8)), ("c", (8, 8, 8)), ("m", (4, 4, 8)),
                                              ("y", (4, 4, 8))]}
    ops = [Op("c", "clamp", ["x"], "c", {"act": [-128, 127]}),
           Op("m", "maxpool", ["c"], "m", {"k": [2, 2], "stride": [2, 2], "pad": [0, 0]}),
           Op("y", "clamp", ["m"], "y", {"act": [0, 127]})]
    g = Graph(t, ops, "x", "y")
    p = plan(g)
    check(g, p)
    assert p.where["c"][0] == "arena" and p.where["y"][0] == "output"


def test_check_catches_overlap():
    g = chain([100, 400, 300, 200, 10])
    p = plan(g)
    p.where["t1"] = p.where["t0"]  # corrupt: two live buffers at one offset
    try:
        check(g, p)
    except AssertionError:
        return
    raise AssertionError("check accepted overlapping live buffers")


def test_random_graphs_never_overlap():
    rng = np.random.default_rng(0)
    for _ in range(50):
        sizes = [int(s) for s in rng.integers(1, 500, size=int(rng.integers(3, 12)))]
        g = chain(sizes)
        check(g, plan(g))
