"""CPU time of the engine's first-order work, to compare two versions of the package: run it with each
checkout first on ``PYTHONPATH``, alternately, and compare the lines (it uses only what every version
has, so an older checkout runs it too). CPU time, best of ``--repeats``, one thread:

- ``chain``: 1000 links ``tanh(x * a + b)`` (3000 ops) on 16 float64 elements: forward, backward and freeing
  the graph, us/op;
- ``plain``: the same chain's forward with nothing recorded, and in forward mode (``func.jvp``) where the
  version has it, us/op;
- ``cbow``: one CBOW step, 4096 examples x 10 context rows, 1 + 5 output rows, row-sparse gradients, ms;
- ``lstm``: the book preset's LSTM language model trainer (embed 100, hidden 100, 10,000 words), 5
  windows of 20 x 35 random ids, tokens/s, and the user and system time and page faults per window
  (Unix only).

    PYTHONPATH=path/to/checkout python benchmarks/engine_ab.py [--what chain,plain,cbow,lstm] [--repeats 12]
"""

from __future__ import annotations

# isort: off
from _common import best_of  # first: one thread before NumPy loads

import argparse
import resource
import time

import numpy as np

import tinygrad_w2v
from tinygrad_w2v import Tensor

# isort: on


def cpu_best(run, repeats: int) -> float:
    return best_of(run, repeats, time.process_time)


def chain(repeats: int) -> str:
    rng = np.random.default_rng(0)
    x0, a0, b0 = (rng.standard_normal(16) * 0.5 for _ in range(3))
    best = [float("inf")] * 3  # forward, backward, freeing the graph (all three are the engine's work)
    for _ in range(repeats):
        a, b, x = (Tensor(v, requires_grad=True) for v in (a0, b0, x0))
        marks = [time.process_time()]
        for _ in range(1000):
            x = (x * a + b).tanh()
        marks.append(time.process_time())
        x.sum().backward()
        marks.append(time.process_time())
        del x
        marks.append(time.process_time())
        best = [min(t, end - start) for t, start, end in zip(best, marks, marks[1:])]
    fwd, bwd, free = (t * 1e6 / 3000 for t in best)
    return f"chain: forward {fwd:.2f} + backward {bwd:.2f} + free {free:.2f} = {fwd + bwd + free:.2f} us/op"


def plain(repeats: int) -> str:
    """The chain's forward with nothing recorded (no input requires grad), and, where the version has
    ``func.jvp``, in forward mode: what forward mode costs beyond the plain forward."""
    rng = np.random.default_rng(0)
    x0, a0, b0 = (rng.standard_normal(16) * 0.5 for _ in range(3))
    a, b = Tensor(a0), Tensor(b0)

    def chain(x):
        for _ in range(1000):
            x = (x * a + b).tanh()
        return x

    line = f"plain forward: {cpu_best(lambda: chain(Tensor(x0)), repeats) * 1e6 / 3000:.2f} us/op"
    func = getattr(tinygrad_w2v, "func", None)
    if func is not None:
        seconds = cpu_best(lambda: func.jvp(chain, (Tensor(x0),), (Tensor(np.ones(16)),)), repeats)
        line += f", forward mode (func.jvp): {seconds * 1e6 / 3000:.2f} us/op"
    return line


def cbow(repeats: int) -> str:
    from tinygrad_w2v.nn import Embedding

    rng = np.random.default_rng(0)
    V, D, B, C, K = 10000, 100, 4096, 10, 5
    inputs, outputs = Embedding(V, D, sparse=True, rng=0), Embedding(V, D, sparse=True, rng=1)
    contexts, words = rng.integers(0, V, (B, C)), rng.integers(0, V, (B, 1 + K))
    sign = np.ones((B, 1 + K), np.float32)
    sign[:, 1:] = -1

    def step():
        h = inputs(contexts).mean(axis=1)  # (B, D)
        scores = (outputs(words) @ h.reshape(B, D, 1)).reshape(B, 1 + K)
        (-(scores * sign).log_sigmoid().sum() / B).backward()
        inputs.weight.grad = outputs.weight.grad = None

    return f"cbow: {cpu_best(step, repeats) * 1e3:.2f} ms/step"


def lstm(repeats: int) -> str:
    from tinygrad_w2v.models.rnnlm import RNNLM
    from tinygrad_w2v.train.lm import LMTrainer

    rng = np.random.default_rng(0)
    ids = rng.integers(0, 10000, 200000)
    trainer = LMTrainer(RNNLM(10000, 100, 100, cell="lstm", init="book", seed=0), ids, 20, 35, 20.0, clip=0.25)
    xs, ts = ids[: 5 * 700].reshape(5, 20, 35), ids[1 : 5 * 700 + 1].reshape(5, 20, 35)

    def windows():
        for x, t in zip(xs, ts):
            trainer.step(x, t)

    before = resource.getrusage(resource.RUSAGE_SELF)
    best = cpu_best(windows, repeats)
    after = resource.getrusage(resource.RUSAGE_SELF)
    per_window = 5 * repeats  # user and system time split out: the allocator's page faults are system time
    user, system = ((b - a) * 1e3 / per_window for a, b in ((before.ru_utime, after.ru_utime),
                                                            (before.ru_stime, after.ru_stime)))
    faults = (after.ru_minflt - before.ru_minflt) / per_window
    return (f"lstm: {5 * 700 / best:,.0f} tokens/s (mean per window: user {user:.1f} ms, system {system:.1f} ms, "
            f"{faults:,.0f} page faults)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--what", default="chain,plain,cbow,lstm", help="comma-separated: chain, plain, cbow, lstm")
    parser.add_argument("--repeats", type=int, default=12)
    args = parser.parse_args()
    print(f"tinygrad_w2v from {tinygrad_w2v.__file__}")
    runs = {"chain": chain, "plain": plain, "cbow": cbow, "lstm": lstm}
    for name in args.what.split(","):
        if name not in runs:
            parser.error(f"--what: unknown {name!r}; choose from {', '.join(runs)}")
        print(runs[name](args.repeats), flush=True)


if __name__ == "__main__":
    main()
