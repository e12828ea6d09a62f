"""Atomic writes and .npz files: a failed write never replaces what a user saved; no pickle."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinygrad_w2v.files import atomic_write, load_npz, save_npz

REPO = Path(__file__).resolve().parents[1]


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


def test_new_files_get_the_umask_permissions_and_replaced_files_keep_theirs(tmp_path):
    old = os.umask(0o027)
    try:
        save_npz(tmp_path / "new.npz", {"x": np.ones(2)})
        with atomic_write(tmp_path / "new.txt", "w") as f:
            f.write("a")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "new.npz").st_mode) == 0o640  # as open(..., "w") under umask 027
    assert stat.S_IMODE(os.stat(tmp_path / "new.txt").st_mode) == 0o640
    kept = tmp_path / "kept.txt"
    kept.write_text("old")
    os.chmod(kept, 0o604)
    with atomic_write(kept, "w") as f:
        f.write("new")
    assert kept.read_text() == "new" and stat.S_IMODE(os.stat(kept).st_mode) == 0o604


def test_the_folder_is_synced_after_the_rename(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with atomic_write(tmp_path / "a.txt", "w") as f:
        f.write("x")
    assert synced == [False, True]  # the data, then the folder holding the new name


WRITER = """
import sys, time
from tinygrad_w2v.files import atomic_write
with atomic_write(sys.argv[1]) as f:
    f.write(b"x" * 100_000)
    f.flush()
    print("writing", flush=True)
    time.sleep(60)
"""


def test_temporaries_of_a_killed_writer_are_removed_by_the_next_write(tmp_path):
    path = tmp_path / "ck.npz"
    save_npz(path, {"x": np.ones(3)})
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for _ in range(2):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, env=env, text=True)
        assert writer.stdout.readline() == "writing\n"
        writer.kill()  # SIGKILL: no cleanup code runs
        writer.wait()
        writer.stdout.close()
    # the second writer removed the first one's orphan; its own is left, beside the checkpoint
    assert len(list(tmp_path.iterdir())) == 2
    with atomic_write(tmp_path / "other.txt", "w") as f:  # another destination leaves it alone
        f.write("y")
    assert len(list(tmp_path.iterdir())) == 3
    save_npz(path, {"x": np.zeros(3)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.npz", "other.txt"]
    np.testing.assert_array_equal(load_npz(path)["x"], np.zeros(3))


def test_a_temporary_of_a_live_writer_is_left_alone(tmp_path):
    path = tmp_path / "v.txt"
    with atomic_write(path, "w") as f:
        f.write("mine")
        with atomic_write(path, "w") as g:  # a second writer (same process) must not delete the first's file
            g.write("inner")
    assert path.read_text() == "mine"
