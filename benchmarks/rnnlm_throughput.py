"""Training throughput of the book-preset LSTM language model (embed 100, hidden 100, batch 20, bptt 35,
SGD lr 20, clip 0.25) on PTB, one thread: ours vs the same model in PyTorch (CPU) vs the book's approach
(its numpy layers with hand-written backward passes, re-implemented compactly below), in one run.

    python benchmarks/rnnlm_throughput.py [--iters 30] [--repeats 3] [--data DIR]
    python benchmarks/rnnlm_throughput.py --small      # the small preset end to end (time, final perplexity)

Each implementation trains ``--iters`` windows from the same start, ``--repeats`` times interleaved; the
best (least disturbed) run of each is reported as tokens per second, with the ratios.
"""

from __future__ import annotations

import contextlib
import io
import math
import subprocess
import sys
import tempfile
import time
from argparse import Namespace
from pathlib import Path

import _common  # first: one BLAS thread, set before NumPy loads OpenBLAS
import numpy as np

from tinygrad_w2v import cli
from tinygrad_w2v.data import BPTTBatches, Vocab, ensure_ptb, load_ptb, read_tokens
from tinygrad_w2v.models.rnnlm import RNNLM
from tinygrad_w2v.train.lm import LMTrainer

E, H, BATCH, BPTT, LR, CLIP = 100, 100, 20, 35, 20.0, 0.25
REPO = Path(__file__).resolve().parents[1]


# ----- the book's approach: numpy layers with hand-written backward passes (chapter 6's Rnnlm) -----------
def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def book_time_embedding(W_emb: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """TimeEmbedding.forward: one ``Embedding`` lookup per step, ``(N, T) -> (N, T, D)``."""
    emb = np.empty((*xs.shape, W_emb.shape[1]), "f")
    for t in range(xs.shape[1]):
        emb[:, t] = W_emb[xs[:, t]]
    return emb


def book_time_embedding_backward(W_emb: np.ndarray, xs: np.ndarray, dxs: np.ndarray) -> np.ndarray:
    """TimeEmbedding.backward: each step's ``Embedding`` zeroes its own ``(V, D)`` gradient and
    ``np.add.at``s into it; the steps' gradients are summed."""
    grad = np.zeros_like(W_emb)
    for t in range(xs.shape[1]):
        dW = np.zeros_like(W_emb)
        np.add.at(dW, xs[:, t], dxs[:, t])
        grad += dW
    return grad


def book_affine_softmax_loss(hs: np.ndarray, W: np.ndarray, b: np.ndarray, ts: np.ndarray) -> tuple[float, tuple]:
    """TimeAffine + TimeSoftmaxWithLoss forward on ``hs (N, T, H)``: the mean loss over labels != -1, and
    what the backward needs."""
    N, T, H = hs.shape
    rx = hs.reshape(N * T, H)
    y = np.dot(rx, W) + b
    y = np.exp(y - y.max(axis=1, keepdims=True))
    y /= y.sum(axis=1, keepdims=True)
    ts = ts.reshape(N * T)
    mask = ts != -1
    ls = np.log(y[np.arange(N * T), ts]) * mask
    return float(-np.sum(ls) / mask.sum()), (rx, ts, y, mask, hs.shape)


def book_affine_softmax_loss_backward(cache: tuple, W: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The backward of ``book_affine_softmax_loss``: ``dhs (N, T, H)``, ``dW`` and ``db``."""
    rx, ts, dx, mask, shape = cache
    dx[np.arange(ts.shape[0]), ts] -= 1
    dx /= mask.sum()
    dx *= mask[:, np.newaxis]
    return np.dot(dx, W.T).reshape(shape), np.dot(rx.T, dx), dx.sum(axis=0)


class BookRnnlm:
    """The book's ``Rnnlm``: TimeEmbedding -> TimeLSTM (stateful) -> TimeAffine -> TimeSoftmaxWithLoss, with
    its per-step ``Embedding``/``LSTM`` layers, ``remove_duplicate``, ``clip_grads`` and ``SGD`` as written."""

    def __init__(self, V: int, D: int, H: int, rng: np.random.Generator):
        rn = rng.standard_normal
        self.params = [
            (rn((V, D)) / 100).astype("f"),
            (rn((D, 4 * H)) / np.sqrt(D)).astype("f"),
            (rn((H, 4 * H)) / np.sqrt(H)).astype("f"),
            np.zeros(4 * H, "f"),
            (rn((H, V)) / np.sqrt(H)).astype("f"),
            np.zeros(V, "f"),
        ]
        self.grads = [np.zeros_like(p) for p in self.params]
        self.h = self.c = None

    def forward(self, xs: np.ndarray, ts: np.ndarray) -> float:
        W_emb, Wx, Wh, b, W_aff, b_aff = self.params
        N, T = xs.shape
        Hn = Wh.shape[0]
        self.xs = xs
        emb = book_time_embedding(W_emb, xs)
        # TimeLSTM (stateful)
        if self.h is None:
            self.h, self.c = np.zeros((N, Hn), "f"), np.zeros((N, Hn), "f")
        hs = np.empty((N, T, Hn), "f")
        self.cache = []
        for t in range(T):
            x, h_prev, c_prev = emb[:, t], self.h, self.c
            A = np.dot(x, Wx) + np.dot(h_prev, Wh) + b
            f, g = _sigmoid(A[:, :Hn]), np.tanh(A[:, Hn : 2 * Hn])
            i, o = _sigmoid(A[:, 2 * Hn : 3 * Hn]), _sigmoid(A[:, 3 * Hn :])
            self.c = f * c_prev + g * i
            self.h = o * np.tanh(self.c)
            hs[:, t] = self.h
            self.cache.append((x, h_prev, c_prev, i, f, g, o, self.c))
        loss, self.loss_cache = book_affine_softmax_loss(hs, W_aff, b_aff, ts)
        return loss

    def backward(self) -> None:
        W_emb, Wx, Wh, b, W_aff, b_aff = self.params
        dhs, self.grads[4][...], self.grads[5][...] = book_affine_softmax_loss_backward(self.loss_cache, W_aff)
        N, T, _ = dhs.shape
        dxs = np.empty((N, T, Wx.shape[0]), "f")
        dh, dc = 0, 0
        grads = [0, 0, 0]
        for t in reversed(range(T)):
            x, h_prev, c_prev, i, f, g, o, c_next = self.cache[t]
            dh_next = dhs[:, t] + dh
            tanh_c = np.tanh(c_next)
            ds = dc + (dh_next * o) * (1 - tanh_c**2)
            dc = ds * f
            di, df, do, dg = ds * g, ds * c_prev, dh_next * tanh_c, ds * i
            di *= i * (1 - i)
            df *= f * (1 - f)
            do *= o * (1 - o)
            dg *= 1 - g**2
            dA = np.hstack((df, dg, di, do))
            layer_grads = [np.dot(x.T, dA), np.dot(h_prev.T, dA), dA.sum(axis=0)]
            dxs[:, t] = np.dot(dA, Wx.T)
            dh = np.dot(dA, Wh.T)
            for k, gk in enumerate(layer_grads):
                grads[k] += gk
        for k, gk in enumerate(grads):
            self.grads[1 + k][...] = gk
        self.grads[0][...] = book_time_embedding_backward(W_emb, self.xs, dxs)


def book_remove_duplicate(params: list, grads: list) -> tuple[list, list]:
    """The book's ``remove_duplicate`` (shared and transposed-shared weights), run every iteration."""
    params, grads = params[:], grads[:]
    while True:
        found = False
        for i in range(len(params) - 1):
            for j in range(i + 1, len(params)):
                if params[i] is params[j]:
                    grads[i] += grads[j]
                    found = True
                elif (
                    params[i].ndim == 2
                    and params[j].ndim == 2
                    and params[i].T.shape == params[j].shape
                    and np.all(params[i].T == params[j])
                ):
                    grads[i] += grads[j].T
                    found = True
                if found:
                    params.pop(j)
                    grads.pop(j)
                    break
            if found:
                break
        if not found:
            return params, grads


def book_step(model: BookRnnlm, x: np.ndarray, t: np.ndarray) -> float:
    loss = model.forward(x, t)
    model.backward()
    params, grads = book_remove_duplicate(model.params, model.grads)
    total = np.sqrt(sum(np.sum(g**2) for g in grads))  # clip_grads
    rate = CLIP / (total + 1e-6)
    if rate < 1:
        for g in grads:
            g *= rate
    for p, g in zip(params, grads):  # SGD
        p -= LR * g
    return loss


# ----- ours ------------------------------------------------------------------------------------------------
def _ours_stepper(V: int, train_ids: np.ndarray):
    """The project's trainer step (forward from the carried state, loss, backward, clipping, SGD)."""
    model = RNNLM(V, E, H, cell="lstm", init="book", seed=0)
    return LMTrainer(model, train_ids, BATCH, BPTT, LR, clip=CLIP).step


# ----- PyTorch ---------------------------------------------------------------------------------------------
def torch_model(torch, V: int):
    nn = torch.nn

    class TorchLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(V, E)
            self.lstm = nn.LSTM(E, H, batch_first=True, bias=True)
            self.out = nn.Linear(H, V)
            with torch.no_grad():  # the book's init scale
                self.embed.weight.normal_(0, 0.01)
                self.lstm.weight_ih_l0.normal_(0, 1 / math.sqrt(E))
                self.lstm.weight_hh_l0.normal_(0, 1 / math.sqrt(H))
                self.lstm.bias_ih_l0.zero_()
                self.lstm.bias_hh_l0.zero_()
                self.out.weight.normal_(0, 1 / math.sqrt(H))
                self.out.bias.zero_()

        def forward(self, x, state):
            y, state = self.lstm(self.embed(x), state)
            return self.out(y), state

    model = TorchLM()
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    holder = {"state": None}

    def step(x: np.ndarray, t: np.ndarray) -> float:
        logits, state = model(torch.from_numpy(x.astype(np.int64)), holder["state"])
        holder["state"] = tuple(s.detach() for s in state)
        targets = torch.from_numpy(t.astype(np.int64)).reshape(-1)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), targets)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        return loss.item()

    return step


def time_steps(step, windows: list) -> tuple[float, float]:
    """Seconds for training on ``windows`` (after one warm-up window) and the last loss."""
    step(*windows[0])
    start = time.perf_counter()
    for x, t in windows[1:]:
        loss = step(x, t)
    return time.perf_counter() - start, loss


def throughput(args: Namespace) -> None:
    corpus = load_ptb(args.data)
    V = len(corpus.vocab)
    batches = BPTTBatches(corpus.train, BATCH, BPTT)
    windows = [w for w, _ in zip(batches, range(args.iters + 1))]
    tokens = BATCH * BPTT * args.iters
    torch = _common.import_torch()
    makers = {"ours": lambda: _ours_stepper(V, corpus.train), "book (numpy layers)": lambda: _book_stepper(V)}
    if torch is not None:
        torch.manual_seed(0)
        makers["pytorch (CPU)"] = lambda: torch_model(torch, V)
    best = {name: math.inf for name in makers}
    loss = {}
    for _ in range(args.repeats):
        for name, make in makers.items():
            seconds, loss[name] = time_steps(make(), windows)
            best[name] = min(best[name], seconds)
    print(f"LSTM LM, embed {E}, hidden {H}, batch {BATCH}, bptt {BPTT}, V {V}: {args.iters} windows, "
          f"best of {args.repeats}, 1 thread")
    for name in makers:
        print(f"{name:22s} {tokens / best[name]:8.0f} tokens/s   (last loss {loss[name]:.3f})")
    ours = tokens / best["ours"]
    print(f"ours / book: {ours / (tokens / best['book (numpy layers)']):.2f}x")
    if torch is not None:
        print(f"ours / pytorch: {ours / (tokens / best['pytorch (CPU)']):.2f}x")
    else:
        print("pytorch is not installed: no PyTorch ratio (pip install 'tinygrad_w2v[bench]')")


def _book_stepper(V: int):
    model = BookRnnlm(V, E, H, np.random.default_rng(0))
    return lambda x, t: book_step(model, x, t)


class BookSimpleRnnlm:
    """The book's chapter-5 ``SimpleRnnlm``: TimeEmbedding -> TimeRNN (stateful) -> TimeAffine ->
    TimeSoftmaxWithLoss, with per-step ``Embedding`` layers and ``SGD.update``, as written there."""

    def __init__(self, V: int, D: int, H: int, rng: np.random.Generator):
        rn = rng.standard_normal
        self.params = [(rn((V, D)) / 100).astype("f"), (rn((D, H)) / np.sqrt(D)).astype("f"),
                       (rn((H, H)) / np.sqrt(H)).astype("f"), np.zeros(H, "f"),
                       (rn((H, V)) / np.sqrt(H)).astype("f"), np.zeros(V, "f")]
        self.grads = [np.zeros_like(p) for p in self.params]
        self.h = None

    def forward(self, xs: np.ndarray, ts: np.ndarray) -> float:
        W_emb, Wx, Wh, b, W_aff, b_aff = self.params
        N, T = xs.shape
        self.xs = xs
        emb = book_time_embedding(W_emb, xs)
        if self.h is None:
            self.h = np.zeros((N, Wh.shape[0]), "f")
        hs = np.empty((N, T, Wh.shape[0]), "f")
        self.cache = []
        for t in range(T):
            h_prev = self.h
            self.h = np.tanh(np.dot(h_prev, Wh) + np.dot(emb[:, t], Wx) + b)
            hs[:, t] = self.h
            self.cache.append((emb[:, t], h_prev, self.h))
        loss, self.loss_cache = book_affine_softmax_loss(hs, W_aff, b_aff, ts)
        return loss

    def backward(self) -> None:
        W_emb, Wx, Wh, b, W_aff, b_aff = self.params
        dhs, self.grads[4][...], self.grads[5][...] = book_affine_softmax_loss_backward(self.loss_cache, W_aff)
        N, T, _ = dhs.shape
        dxs = np.empty((N, T, Wx.shape[0]), "f")
        dh, grads = 0, [0, 0, 0]
        for t in reversed(range(T)):
            x, h_prev, h_next = self.cache[t]
            dt = (dhs[:, t] + dh) * (1 - h_next**2)
            layer_grads = [np.dot(x.T, dt), np.dot(h_prev.T, dt), dt.sum(axis=0)]
            dh = np.dot(dt, Wh.T)
            dxs[:, t] = np.dot(dt, Wx.T)
            for k, gk in enumerate(layer_grads):
                grads[k] += gk
        for k, gk in enumerate(grads):
            self.grads[1 + k][...] = gk
        self.grads[0][...] = book_time_embedding_backward(W_emb, self.xs, dxs)


def book_small_preset(ids: np.ndarray) -> tuple[float, float]:
    """The book's chapter-5 ``train_custom_loop`` (batch 10, time 5, SGD lr 0.1, 100 epochs) on ``ids``:
    training seconds and the last epoch's perplexity."""
    V = int(ids.max()) + 1
    model = BookSimpleRnnlm(V, 100, 100, np.random.default_rng(0))
    xs, ts = ids[:-1], ids[1:]
    batch, steps, data_size = 10, 5, len(ids) - 1
    jump = (len(ids) - 1) // batch
    offsets = [i * jump for i in range(batch)]
    time_idx, ppl = 0, math.nan
    start = time.perf_counter()
    for _ in range(100):
        total, count = 0.0, 0
        for _ in range(data_size // (batch * steps)):
            bx, bt = np.empty((batch, steps), "i"), np.empty((batch, steps), "i")
            for t in range(steps):
                for i, offset in enumerate(offsets):
                    bx[i, t] = xs[(offset + time_idx) % data_size]
                    bt[i, t] = ts[(offset + time_idx) % data_size]
                time_idx += 1
            total += model.forward(bx, bt)
            model.backward()
            for p, g in zip(model.params, model.grads):
                p -= 0.1 * g
            count += 1
        ppl = math.exp(total / count)
    return time.perf_counter() - start, ppl


def ours_small_preset(ids: np.ndarray) -> tuple[float, float]:
    """The same run through this project's trainer (no checkpoints, no progress bar): seconds, perplexity."""
    model = RNNLM(int(ids.max()) + 1, 100, 100, cell="rnn", init="book", seed=0)
    trainer = LMTrainer(model, ids, batch_size=10, bptt=5, lr=0.1)
    start = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        trainer.fit(100)
    return time.perf_counter() - start, trainer.history["train perplexity"][-1]


def small(args: Namespace) -> None:
    """The small preset: the book's loop and ours in this process (training time), then the demo as a user
    runs it (a subprocess: start-up, data loading and a checkpoint per epoch included)."""
    tokens = read_tokens(ensure_ptb(args.data) / "ptb.train.txt")[:1000]
    ids = Vocab.build(tokens).encode(tokens)
    best = {"book": (math.inf, 0.0), "ours": (math.inf, 0.0)}
    for _ in range(args.repeats):  # interleaved, so both see the same machine noise
        for name, run in (("book", book_small_preset), ("ours", ours_small_preset)):
            seconds, ppl = run(ids)
            best[name] = min(best[name], (seconds, ppl))
    print(f"small preset (RNN, 1000 tokens, 100 epochs), training loop only, best of {args.repeats}:")
    for name, (seconds, ppl) in best.items():
        print(f"  {name:5s} {seconds:6.2f} s, perplexity at epoch 100: {ppl:.2f}")
    print(f"  ours / book time: {best['ours'][0] / best['book'][0]:.2f}")
    out_dir = tempfile.mkdtemp(prefix="rnnlm_small_")
    cmd = [sys.executable, str(REPO / "demos" / "rnnlm.py"), "--preset", "small", "--no-plot", "--out", out_dir]
    if args.data:
        cmd += ["--data", str(args.data)]
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    last = [line for line in out.splitlines() if line.startswith("epoch")][-1]
    print(f"demos/rnnlm.py --preset small, whole process: {time.perf_counter() - start:.2f} s; {last}")


def main() -> None:
    parser = cli.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=cli.integer(1), default=30, help="training windows timed per run")
    parser.add_argument("--repeats", type=cli.integer(1), default=3, help="runs per implementation (best reported)")
    parser.add_argument("--data", default=None, help="PTB directory")
    parser.add_argument("--small", action="store_true", help="time the small preset end to end instead")
    args = parser.parse_args()
    small(args) if args.small else throughput(args)


if __name__ == "__main__":
    cli.run(main)
