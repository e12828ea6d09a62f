"""RNN language models: the loss's ignore label, gradients through unrolled steps, truncated BPTT (carry,
detachment, bounded memory), checkpoint/resume, generation, learning, the demo and PTB evaluation."""

from __future__ import annotations

import gc
import importlib.util
import math
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinygrad_w2v import Tensor, backend, record
from tinygrad_w2v.data import Corpus, Vocab, load_ptb
from tinygrad_w2v.models.rnnlm import RNNLM, detach_state, lm_loss
from tinygrad_w2v.tape import Node
from tinygrad_w2v.testing import dense, numerical_grad
from tinygrad_w2v.train.common import rng_state, set_rng_state
from tinygrad_w2v.train.lm import LMTrainer, evaluate_perplexity

REPO = Path(__file__).resolve().parents[1]


# ----- the loss ---------------------------------------------------------------------------------------------
def test_lm_loss_ignores_labels_as_the_book() -> None:
    rng = np.random.default_rng(0)
    logits = Tensor(rng.standard_normal((3, 4, 6)), requires_grad=True)
    targets = rng.integers(0, 6, size=(3, 4))
    targets[0, 1] = targets[2, 3] = targets[1, 0] = -1
    loss = lm_loss(logits.log_softmax(axis=-1), targets)
    x = logits.numpy().reshape(-1, 6)
    log_p = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    t = targets.reshape(-1)
    kept = t != -1
    expected = -log_p[np.arange(t.size)[kept], t[kept]].mean()  # the -1 labels dropped, mean over the rest
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    loss.backward()
    grad = logits.grad.reshape(-1, 6)
    assert np.all(grad[~kept] == 0)
    assert np.all(np.abs(grad[kept]).sum(axis=1) > 0)


def test_lm_loss_all_ignored_is_nan_like_torch_and_bad_targets_are_named() -> None:
    lp = Tensor(np.log(np.full((2, 3), 1 / 3)))
    assert np.isnan(lm_loss(lp, np.array([-1, -1])).item())  # 0 / 0, as torch's nll_loss(ignore_index=-1)
    with pytest.raises(IndexError, match="target 3 is out of range for 3 classes"):
        lm_loss(lp, np.array([0, 3]))
    with pytest.raises(ValueError, match=r"targets must have shape \(2,\)"):
        lm_loss(lp, np.array([[0, 1]]))


def test_tied_weights_need_equal_sizes() -> None:
    with pytest.raises(ValueError, match="tie_weights needs embed == hidden"):
        RNNLM(10, embed=4, hidden=5, tie_weights=True)
    model = RNNLM(10, embed=4, hidden=4, tie_weights=True)
    assert model.output_weight is model.embedding.weight
    assert [n for n, _ in model.named_parameters()].count("embedding.weight") == 1


# ----- gradients through unrolled steps vs numerical differentiation ------------------------------------
@pytest.mark.parametrize(
    "cell, layers, tie, dropout",
    [("rnn", 1, False, 0.0), ("rnn", 2, True, 0.0), ("lstm", 1, False, 0.0), ("lstm", 2, False, 0.3),
     ("lstm", 1, True, 0.0)],
)
def test_gradients_through_unrolled_steps_match_finite_differences(cell, layers, tie, dropout) -> None:
    V, B, T, size = 6, 2, 3, 3
    model = RNNLM(V, size, size, cell=cell, layers=layers, tie_weights=tie, dropout=dropout,
                  init="torch", seed=1).double()
    rng = np.random.default_rng(2)
    x, t = rng.integers(0, V, (B, T)), rng.integers(0, V, (B, T))
    t[1, 2] = -1
    state0 = detach_state(model.init_state(B))
    state0 = tuple(
        tuple(Tensor(rng.standard_normal(s.shape) * 0.5) for s in layer) if cell == "lstm"
        else Tensor(rng.standard_normal(layer.shape) * 0.5)
        for layer in state0
    )
    u = rng.standard_normal((B, size))
    masks = rng_state(model.rng)

    def loss() -> Tensor:
        set_rng_state(model.rng, masks)  # the same dropout masks in every evaluation
        log_probs, state = model(x, state0)
        h_last = state[-1][0] if cell == "lstm" else state[-1]
        return lm_loss(log_probs, t) + (h_last * u).sum()  # reaches the carried-out state too

    model.zero_grad()
    loss().backward()
    for name, p in model.named_parameters():
        num = numerical_grad(lambda: loss().item(), p.data)
        np.testing.assert_allclose(dense(p.grad), num, rtol=1e-5, atol=1e-7, err_msg=name)


def test_a_retained_graph_backpropagates_twice_through_the_step_split() -> None:
    model = RNNLM(7, 4, 4, cell="lstm", seed=0).double()
    x, t = np.random.default_rng(0).integers(0, 7, (2, 2, 4))
    loss = lm_loss(model(x)[0], t)
    loss.backward(retain_graph=True)
    once = [dense(p.grad).copy() for p in model.parameters()]
    loss.backward()  # the split's shared buffer starts afresh: the gradients add up to twice
    for g, p in zip(once, model.parameters()):
        np.testing.assert_allclose(dense(p.grad), 2 * g, rtol=1e-12)


# ----- truncated BPTT: carry, detachment, bounded memory ---------------------------------------------------
@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_state_carries_from_one_window_to_the_next(cell) -> None:
    model = RNNLM(9, 5, 5, cell=cell, layers=2, seed=0).double()
    x = np.random.default_rng(0).integers(0, 9, (3, 8))
    whole, _ = model(x)
    first, state = model(x[:, :5])
    second, _ = model(x[:, 5:], detach_state(state))
    np.testing.assert_allclose(first.numpy(), whole.numpy()[:, :5], rtol=1e-12)
    np.testing.assert_allclose(second.numpy(), whole.numpy()[:, 5:], rtol=1e-12)
    fresh, _ = model(x[:, 5:])  # the carried state matters
    assert not np.allclose(fresh.numpy(), second.numpy())


def test_second_window_backward_stops_at_the_detached_state() -> None:
    model = RNNLM(9, 4, 4, cell="lstm", seed=0)
    rng = np.random.default_rng(1)
    x1, x2, t2 = (rng.integers(0, 9, (2, 4)) for _ in range(3))
    with record() as window1:
        _, state = model(x1)
    carried = detach_state(state)
    assert all(s.grad_fn is None and not s.requires_grad for layer in carried for s in layer)
    log_probs, _ = model(x2, carried)
    model.zero_grad()
    lm_loss(log_probs, t2).backward()
    assert window1 and not any(node.released for node in window1)  # the replay never reached window 1
    grads = [dense(p.grad).copy() for p in model.parameters()]
    # the same gradients as from a state that never had a graph
    constant = tuple(tuple(Tensor(s.numpy()) for s in layer) for layer in carried)
    model.zero_grad()
    lm_loss(model(x2, constant)[0], t2).backward()
    for g, p in zip(grads, model.parameters()):
        np.testing.assert_array_equal(g, dense(p.grad))


def live_nodes() -> int:
    gc.collect()
    return sum(type(o) is Node for o in gc.get_objects())


@pytest.mark.parametrize("detach", [True, False])
def test_memory_stays_bounded_over_many_windows(detach) -> None:
    model = RNNLM(12, 6, 6, cell="lstm", seed=0)
    rng = np.random.default_rng(0)
    state, counts = None, []
    for _ in range(12):
        log_probs, state = model(rng.integers(0, 12, (2, 5)), state)
        if detach:
            state = detach_state(state)
        model.zero_grad()
        lm_loss(log_probs, rng.integers(0, 12, (2, 5))).backward(retain_graph=not detach)
        counts.append(live_nodes())
    if detach:
        assert max(counts[2:]) == counts[2]  # the same number of live graph nodes after every window
    else:  # the control: without detaching, each window keeps the whole history alive
        assert counts[-1] > counts[2] + 9 * 50


# ----- checkpoints and resume ------------------------------------------------------------------------------
def tiny_ids(n: int = 500, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (np.tile(np.arange(10), n // 10) + (rng.random(n) < 0.1) * rng.integers(0, 10, n)) % 10


def make_trainer(optimizer: str, dropout: float) -> LMTrainer:
    model = RNNLM(10, 6, 6, cell="lstm", dropout=dropout, seed=3)
    return LMTrainer(model, tiny_ids(), batch_size=4, bptt=5, lr=0.5 if optimizer == "sgd" else 0.01,
                     optimizer=optimizer, clip=1.0, valid_ids=tiny_ids(120, seed=1), eval_batch_size=2, eval_bptt=5)


@pytest.mark.parametrize("optimizer, dropout", [("sgd", 0.0), ("adam", 0.2)])
def test_resume_from_a_checkpoint_gives_identical_parameters(tmp_path, optimizer, dropout) -> None:
    k = 40  # 24 windows per epoch: the second half crosses an epoch end (validation, plateau)
    straight = make_trainer(optimizer, dropout)
    straight.fit(epochs=5, max_steps=k)
    first = make_trainer(optimizer, dropout)
    first.fit(epochs=5, max_steps=k // 2)
    first.save(tmp_path / "ck.npz")
    resumed = make_trainer(optimizer, dropout)
    resumed.load(tmp_path / "ck.npz")
    resumed.fit(epochs=5, max_steps=k // 2)
    assert resumed.epoch == straight.epoch == 1 and resumed.step_in_epoch == straight.step_in_epoch
    for (name, a), b in zip(straight.model.named_parameters(), resumed.model.parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    assert resumed.history == straight.history and resumed.optimizer.lr == straight.optimizer.lr


def test_ctrl_c_saves_a_checkpoint_and_stops(tmp_path) -> None:
    trainer = make_trainer("sgd", 0.0)
    step = trainer.step
    calls = []

    def interrupted_step(x, t):
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return step(x, t)

    trainer.step = interrupted_step
    assert trainer.fit(epochs=2, checkpoint=tmp_path / "ck.npz") is False
    assert len(calls) == 3
    again = make_trainer("sgd", 0.0)
    again.load(tmp_path / "ck.npz")
    assert (again.epoch, again.step_in_epoch, again.batches.time_idx) == (0, 3, 15)
    assert again.fit(epochs=1) is True and again.epoch == 1


# ----- generation -------------------------------------------------------------------------------------------
def test_generation_emits_vocabulary_ids_and_never_a_skipped_id() -> None:
    model = RNNLM(12, 5, 5, cell="lstm", init="torch", seed=0)
    model.decoder.bias.data[3] = 8.0  # id 3 would be almost every sample
    ids = model.generate(0, 200, temperature=1.0, skip_ids=(3,), rng=1)
    assert len(ids) == 200 and set(ids) <= set(range(12)) - {3}
    assert len(set(ids)) > 3
    assert model.generate(0, 20, skip_ids=(), rng=1).count(3) > 15  # the control: unskipped, 3 dominates


def test_low_temperature_approaches_argmax() -> None:
    model = RNNLM(15, 6, 6, cell="rnn", init="torch", seed=0)
    greedy = model.generate(2, 15, temperature=0)
    assert model.generate(2, 15, temperature=1e-3, rng=0) == greedy
    log_probs, _ = model(np.array([[2]]))
    assert greedy[0] == int(np.argmax(log_probs.numpy()[0, 0]))
    assert model.generate(2, 15, temperature=5.0, rng=0) != greedy


# ----- learning, the demo, PTB ----------------------------------------------------------------------------
def test_small_preset_learns_a_repetitive_corpus() -> None:
    ids = np.tile(np.arange(8), 80)  # deterministic: a perfect model has perplexity 1
    model = RNNLM(8, 100, 100, cell="rnn", seed=0)
    trainer = LMTrainer(model, ids, batch_size=10, bptt=5, lr=0.1)
    trainer.fit(epochs=30)
    history = trainer.history["train perplexity"]
    assert history[0] > 4 and history[-1] < 1.1
    windows = trainer.history["train perplexity (window)"]  # a one-epoch plot has more than one point
    n = len(trainer.batches)
    assert len(windows) == 30 * n and np.exp(np.mean(np.log(windows[:n]))) == pytest.approx(history[0])
    assert evaluate_perplexity(model, ids, batch_size=1, bptt=5) < 1.05  # one stream: one cold start


def test_demo_prints_its_lines(tmp_path) -> None:
    text = tmp_path / "tiny.txt"
    text.write_text("the cat sat on the mat\nthe dog sat on the log\n" * 30)
    cmd = [sys.executable, str(REPO / "demos" / "rnnlm.py"), "--data", str(text), "--cell", "lstm", "--epochs", "2",
           "--batch-size", "3", "--bptt", "4", "--embed", "8", "--hidden", "8", "--lr", "1", "--clip", "1",
           "--generate", "5", "--out", str(tmp_path / "out")]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert re.fullmatch(r"epoch 1/2: train perplexity \d+\.\d\d", lines[1])
    assert any(re.fullmatch(r"epoch 2/2: train perplexity \d+\.\d\d", line) for line in lines)
    assert any(line.startswith("generated (5 words after") for line in lines)
    plot = [line for line in lines if line.startswith("plot: ")]
    if importlib.util.find_spec("matplotlib") is not None:
        assert plot and Path(plot[0][6:]).is_file()
    else:  # the demo still trains and says why there is no picture
        assert not plot and any("matplotlib is not installed" in line for line in lines)
    assert (tmp_path / "out" / "checkpoint.npz").is_file()
    assert re.fullmatch(r"throughput: \d+ tokens/s", lines[-1])


def test_demo_prints_valid_and_test_perplexity(tmp_path, monkeypatch, capsys) -> None:
    spec = importlib.util.spec_from_file_location("rnnlm_demo", REPO / "demos" / "rnnlm.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    words = [f"w{i}" for i in range(10)] + ["<unk>"]
    corpus = Corpus(train=tiny_ids(400), vocab=Vocab(words, np.ones(11)), valid=tiny_ids(400, 1),
                    test=tiny_ids(400, 2))
    monkeypatch.setattr(demo, "load_corpus", lambda data: corpus)
    demo.main(["--preset", "book", "--epochs", "2", "--batch-size", "2", "--embed", "6", "--hidden", "6",
               "--bptt", "5", "--generate", "4", "--no-plot", "--out", str(tmp_path)])
    out = capsys.readouterr().out.strip().splitlines()
    assert sum(bool(re.fullmatch(r"valid perplexity: \d+\.\d\d", line)) for line in out) == 2
    assert any(re.fullmatch(r"test perplexity: \d+\.\d\d", line) for line in out)
    generated = out[out.index(next(line for line in out if line.startswith("generated"))) + 1].split()
    assert "<unk>" not in generated
    assert re.fullmatch(r"throughput: \d+ tokens/s", out[-1])


@pytest.mark.ptb
def test_untrained_model_perplexity_on_ptb_valid_is_about_the_vocabulary_size(ptb_dir) -> None:
    corpus = load_ptb(ptb_dir)
    model = RNNLM(len(corpus.vocab), 100, 100, cell="lstm", seed=0)  # the book's init: near-uniform outputs
    ppl = evaluate_perplexity(model, corpus.valid[:3501], batch_size=10, bptt=35)
    assert 0.95 * len(corpus.vocab) < ppl < 1.05 * len(corpus.vocab)


@pytest.mark.gpu
@pytest.mark.skipif(not backend.cuda_available(), reason="needs CuPy and a CUDA device")
def test_training_step_on_the_gpu_matches_the_cpu() -> None:
    ids = tiny_ids()
    losses = []
    for device in ("cpu", "cuda"):
        model = RNNLM(10, 6, 6, cell="lstm", layers=2, seed=0).to(device)
        trainer = LMTrainer(model, ids, batch_size=4, bptt=5, lr=0.5, clip=1.0)
        trainer.fit(epochs=1, max_steps=3)
        losses.append(trainer.epoch_loss)
    assert math.isclose(losses[0], losses[1], rel_tol=1e-4)
