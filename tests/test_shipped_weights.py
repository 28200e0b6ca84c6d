"""Every example the tests and the demo train has its weights committed in examples/weights/ under the
name cached_trained would cache them: a fresh clone (empty cache) trains nothing. Fails, saying how to
refresh them, when an example or its recipe changed and the committed file no longer matches."""

import pytest
from mcudeploy import train


@pytest.mark.parametrize("name", sorted(train.RECIPES))
def test_fresh_clone_loads_committed_weights(name, tmp_path, monkeypatch):
    monkeypatch.setattr(train, "CACHE", tmp_path)  # an empty cache

    def no_training(*a, **k):
        raise AssertionError(f"{name}: no committed weights match examples/{name}.py and its recipe; a fresh "
                             "clone would train it. Refresh them as examples/weights/README.md says")

    monkeypatch.setattr(train, "train_classifier", no_training)
    model, path = train.cached_trained(name)
    assert path.parent == train.SHIPPED and path.with_suffix(".json").is_file()
    assert not model.training
