"""Compact vector storage: int8 with a row scale, float16, and the PCA projection."""

from __future__ import annotations

import numpy as np
import pytest

from groundcap.datastore.storage import dequantise, fit_pca, load_tensors, normalise, project, quantise, save_tensors
from groundcap.errors import ConfigError


@pytest.mark.parametrize("storage, max_error, dtype", [("int8", 5e-3, np.int8), ("float16", 1e-3, np.float16),
                                                       ("float32", 1e-6, np.float32)])
def test_round_trip_keeps_cosines(tmp_path, storage, max_error, dtype):
    rng = np.random.default_rng(0)
    v = normalise(rng.normal(size=(200, 256)) * rng.uniform(0.1, 5, size=(1, 256)))
    save_tensors(quantise(v, storage), tmp_path / "v.safetensors", {"x": "1"})
    tensors = load_tensors(tmp_path / "v.safetensors")
    assert tensors["vectors"].dtype == dtype
    back = dequantise(tensors)
    q = normalise(rng.normal(size=(20, 256)))
    assert np.abs(q @ back.T - q @ v.T).max() < max_error
    assert np.allclose(np.linalg.norm(back, axis=1), 1, atol=1e-5)


def test_zero_rows_survive_int8():
    back = dequantise(quantise(np.zeros((2, 4)), "int8"))
    assert np.all(back == 0)


def test_pca_keeps_the_main_directions_and_centres():
    rng = np.random.default_rng(1)
    signal = rng.normal(size=(500, 3)) @ rng.normal(size=(3, 40)) + 7.0  # 3-d data, far from the origin
    pca = fit_pca(signal, 3)
    assert pca["components"].shape == (40, 3) and np.allclose(pca["mean"], signal.mean(0), atol=1e-4)
    p = project(signal, pca)
    full = normalise(signal - signal.mean(0))
    assert np.abs(p @ p.T - full @ full.T).max() < 1e-3  # nothing lost: the data is 3-d
    with pytest.raises(ConfigError, match="PCA dims"):
        fit_pca(signal, 41)


def test_unknown_storage_is_refused():
    with pytest.raises(ConfigError, match="unknown vector storage"):
        quantise(np.ones((1, 2)), "int4")
