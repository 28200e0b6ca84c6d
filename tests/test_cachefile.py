"""The shared cache under parallel users (`make test`'s two xdist workers): one producer per entry,
no half-written files."""

from __future__ import annotations

import threading
import time

import pytest
import torch
from mcudeploy import train
from mcudeploy.cachefile import atomic_write, produce_once


def test_two_callers_on_an_empty_cache_train_once_and_share_the_weights(monkeypatch, tmp_path):
    """flock locks belong to open file descriptions, so two threads stand in for two processes here."""
    monkeypatch.setattr(train, "CACHE", tmp_path)
    calls = []

    def fake_train(model, x, y, **kw):  # slow enough that the second caller arrives mid-training
        calls.append(threading.get_ident())
        time.sleep(0.5)
        with torch.no_grad():
            for i, p in enumerate(model.parameters()):
                p.fill_(len(calls) * 100 + i)
        return model.eval()

    monkeypatch.setattr(train, "train_classifier", fake_train)
    monkeypatch.setattr(train, "evaluate", lambda model, x, y: 0.5)
    start, results = threading.Barrier(2), [None, None]

    def worker(k):
        start.wait()
        results[k] = train.cached_trained("lenet5", "digits", epochs=1, limit=40)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(calls) == 1, f"trained {len(calls)} times"
    (m0, p0), (m1, p1) = results
    assert p0 == p1 and p0.parent == tmp_path / "trained"
    for a, b in zip(m0.state_dict().values(), m1.state_dict().values(), strict=True):
        assert torch.equal(a, b)  # the waiting caller loaded the producer's weights
    leftovers = sorted(p.name for p in p0.parent.iterdir())
    assert leftovers == sorted([p0.name, p0.with_suffix(".json").name, f".{p0.name}.lock"]), leftovers


def test_atomic_write_leaves_nothing_when_the_writer_fails(tmp_path):
    target = tmp_path / "entry.bin"
    with pytest.raises(RuntimeError), atomic_write(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("writer died")
    assert list(tmp_path.iterdir()) == []
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_write(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("writer died")
    assert target.read_bytes() == b"old" and list(tmp_path.iterdir()) == [target]
    with atomic_write(target) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and list(tmp_path.iterdir()) == [target]


def test_produce_once_serialises_producers(tmp_path):
    inside, overlap = [], []

    def producer():
        with produce_once(tmp_path / "entry"):
            overlap.append(len(inside))
            inside.append(1)
            time.sleep(0.2)
            inside.pop()

    threads = [threading.Thread(target=producer) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert overlap == [0, 0, 0]
