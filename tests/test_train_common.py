"""Checkpoints, Ctrl-C handling and plots shared by the trainers."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from tinygrad_w2v import nn, optim
from tinygrad_w2v.train import (
    graceful_interrupt,
    load_checkpoint,
    plot_history,
    rng_state,
    save_checkpoint,
    set_rng_state,
)


def model_and_adam(seed):
    model = nn.Linear(3, 2, rng=seed)
    opt = optim.Adam(model.parameters(), lr=0.1)
    (model(nn.Tensor(np.ones((4, 3), np.float32))) ** 2).sum().backward()
    opt.step()
    return model, opt


def test_checkpoint_round_trip_restores_model_optimizer_and_extras(tmp_path):
    model, opt = model_and_adam(0)
    rng = np.random.default_rng(0)
    rng.random(3)
    path = save_checkpoint(tmp_path / "ck.npz", model, opt, epoch=2, lr=0.5, rng=rng_state(rng),
                           history={"loss": [3.0, 2.5]}, order=np.arange(5))
    other, other_opt = model_and_adam(1)
    extra = load_checkpoint(path, other, other_opt)
    for (name, p), (_, q) in zip(model.named_parameters(), other.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)
    assert other_opt.t == opt.t
    np.testing.assert_array_equal(other_opt.m[0], opt.m[0])
    assert extra["epoch"] == 2 and extra["lr"] == 0.5 and extra["history"] == {"loss": [3.0, 2.5]}
    np.testing.assert_array_equal(extra["order"], np.arange(5))
    fresh = np.random.default_rng(99)
    set_rng_state(fresh, extra["rng"])
    assert fresh.random() == rng.random()


def test_checkpoint_for_another_model_is_a_clear_error(tmp_path):
    model, opt = model_and_adam(0)
    path = save_checkpoint(tmp_path / "ck.npz", model, opt)
    with pytest.raises(ValueError, match="does not fit this model.*shape"):
        load_checkpoint(path, nn.Linear(4, 2), None)
    np.save(tmp_path / "x.npy", np.ones(2))
    os.replace(tmp_path / "x.npy", tmp_path / "not_ck.npz")
    with pytest.raises(ValueError, match="not_ck.npz"):
        load_checkpoint(tmp_path / "not_ck.npz", model)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_first_interrupt_only_asks_to_stop_second_aborts(signum):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    with graceful_interrupt() as stop:
        assert not stop.requested
        os.kill(os.getpid(), signum)
        assert stop.requested
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signum)
    assert {s: signal.getsignal(s) for s in before} == before


def test_plot_history_writes_an_image(tmp_path):
    pytest.importorskip("matplotlib")
    path = plot_history({"train": [5.0, 3.0, 2.0], "valid": [6.0, 4.0, 3.5]}, tmp_path / "loss.png", "loss", "epoch")
    assert path == tmp_path / "loss.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = plot_history({"loss": [1.0, 0.5]}, tmp_path / "loss.svg")
    assert b"<svg" in svg.read_bytes()


def test_plot_history_leaves_the_backend_alone_and_marks_epochs(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    before = matplotlib.get_backend()
    matplotlib.use("svg")  # a notebook's backend, say: plotting must not switch it
    try:
        with matplotlib.rc_context({"svg.fonttype": "none"}):  # text stays text in the SVG
            path = plot_history({"per step": list(np.linspace(5, 1, 40)), "per epoch": [4.0, 2.0]},
                                tmp_path / "h.svg", "loss", "step", "the loss", epochs=2)
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(before)
    svg = path.read_text()
    assert ">epoch<" in svg and ">the loss<" in svg and ">per step<" in svg
    assert svg.count("stroke-dasharray") >= 2  # the two epoch marks (dotted)
