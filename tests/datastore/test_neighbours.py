"""Datastore search on hand-made vectors: order, k, exclusions, query checks (no model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from groundcap.datastore import resolve_datastore
from groundcap.datastore.storage import normalise
from groundcap.datastore.store import Datastore
from groundcap.errors import ConfigError


@pytest.fixture()
def store() -> Datastore:
    vectors = normalise(np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0.5, 0.5, 0.7], [-1, 0, 0]]))
    keys = ["a", "a-ish", "b", "mix", "anti-a"]
    captions = [(f"caption of {k} .", f"another of {k} .") for k in keys]
    return Datastore(Path("mem"), {"embedding": "embedded"}, keys, captions, vectors)


def test_neighbours_are_sorted_by_cosine(store):
    near = store.neighbours(np.array([1.0, 0.0, 0.0]), k=5)
    assert [n.key for n in near] == ["a", "a-ish", "mix", "b", "anti-a"]
    sims = [n.similarity for n in near]
    assert sims == sorted(sims, reverse=True) and sims[0] == pytest.approx(1.0) and sims[-1] == pytest.approx(-1.0)
    assert near[0].captions == ("caption of a .", "another of a .")


def test_k_and_an_unnormalised_query(store):
    near = store.neighbours(np.array([0.0, 5.0, 0.0]), k=2)
    assert [n.key for n in near] == ["b", "mix"] and near[0].similarity == pytest.approx(1.0)
    assert len(store.neighbours(np.array([0.0, 1.0, 0.0]), k=50)) == 5


def test_exclude_keys_removes_a_photo_and_keeps_k(store):
    near = store.neighbours(np.array([1.0, 0.0, 0.0]), k=2, exclude_keys=["a", "not-there"])
    assert [n.key for n in near] == ["a-ish", "mix"]
    assert len(store.neighbours(np.array([1.0, 0.0, 0.0]), k=5, exclude_keys={"a", "b"})) == 3


def test_batched_queries_match_single_ones(store):
    q = np.array([[1.0, 0, 0], [0, 0, 1.0]])
    many = store.neighbours_of_vectors(q, k=3, exclude_keys=[(), ("mix",)])
    assert many[0] == store.neighbours(q[0], k=3)
    assert many[1] == store.neighbours(q[1], k=3, exclude_keys=("mix",))


@pytest.mark.parametrize("query, k, message", [
    (np.ones(4), 3, "query vectors of shape"),
    (np.ones(3), 0, "k must be at least 1"),
])
def test_bad_queries_are_clear_errors(store, query, k, message):
    with pytest.raises(ConfigError, match=message):
        store.neighbours(query, k=k)


def test_mismatched_rows_are_refused():
    with pytest.raises(ConfigError, match="damaged"):
        Datastore(Path("bad"), {"embedding": "embedded"}, ["a"], [("x",), ("y",)], np.ones((1, 3)))


def test_resolver_settings(tmp_path):
    assert resolve_datastore("none") is None and resolve_datastore("") is None and resolve_datastore(None) is None
    assert resolve_datastore(str(tmp_path)) == tmp_path
    assert resolve_datastore("embedded").name == "flickr8k-224-train"
    with pytest.raises(ConfigError, match="no such folder"):
        resolve_datastore(str(tmp_path / "missing"))
