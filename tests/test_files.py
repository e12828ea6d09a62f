"""Atomic writes and .npz files: a failed write never replaces what a user saved; no pickle."""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_w2v.files import atomic_write, load_npz, save_npz


def test_atomic_write_replaces_only_on_success(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text("good")
    with pytest.raises(RuntimeError), atomic_write(path, "w") as f:
        f.write("half")
        raise RuntimeError("disk full")
    assert path.read_text() == "good"
    assert list(tmp_path.iterdir()) == [path]  # the temporary file is gone
    with atomic_write(path, "w") as f:
        f.write("new")
    assert path.read_text() == "new"


def test_npz_round_trip(tmp_path):
    arrays = {"model/w": np.arange(6, dtype=np.float32).reshape(2, 3), "t": np.int64(7), "name": np.array("cbow")}
    path = save_npz(tmp_path / "sub" / "a.npz", arrays)
    back = load_npz(path)
    assert set(back) == set(arrays)
    np.testing.assert_array_equal(back["model/w"], arrays["model/w"])
    assert back["model/w"].dtype == np.float32 and int(back["t"]) == 7 and str(back["name"]) == "cbow"


def test_npz_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, obj=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="evil.npz"):
        load_npz(path)


def test_npz_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.npz"):
        load_npz(tmp_path / "nothere.npz")
    bad = tmp_path / "truncated.npz"
    save_npz(bad, {"x": np.ones(1000)})
    bad.write_bytes(bad.read_bytes()[:200])
    with pytest.raises(ValueError, match="truncated.npz"):
        load_npz(bad)
