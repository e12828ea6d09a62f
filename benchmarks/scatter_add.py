"""Scatter-add of embedding-gradient rows, ``out[index[i]] += rows[i]``: which kernel ``backend.index_add_rows``
should use on the CPU.

Candidates, for the shapes a word2vec step produces (m rows of width D into a table of n rows, Zipf-like
repeated indices, float32):
- ``np.add.at(out, index, rows)``: NumPy's unbuffered ufunc; simple, historically slow on rows;
- CSR product: ``out += S @ rows`` with the 0/1 selection matrix ``S (n, m)`` (scipy.sparse, compiled),
  built by rows (a transpose and conversion: a counting sort of the m indices);
- CSC product: the same matrix built by columns, which needs no conversion: SciPy's CSC product walks
  ``rows`` in order and adds each into its row of ``out`` (a compiled ``np.add.at``);
- flat ``np.add.at``: the same on the flattened arrays (NumPy's fast path for 1-D operands);
- sort + segment sum: ``argsort(index)``, ``np.add.reduceat`` over runs of equal indices, one fancy add;
- the engine's ``backend.index_add_rows`` (whatever it dispatches to).

    python benchmarks/scatter_add.py [--repeats 7]

Prints best-of-k milliseconds (the machine is shared and noisy: the minimum is the honest figure) and each
kernel's time relative to ``np.add.at``.
"""

from __future__ import annotations

# isort: off
from _common import best_of  # first: it sets one thread before NumPy loads
import numpy as np
from scipy import sparse

from tinygrad_w2v import backend, cli

# isort: on


def add_at(out, index, rows):
    np.add.at(out, index, rows)


def csr_product(out, index, rows):
    m = len(index)
    selector = sparse.csr_matrix((np.ones(m, rows.dtype), index, np.arange(m + 1)), shape=(m, out.shape[0])).T
    out += selector.tocsr() @ rows


def csc_product(out, index, rows):
    m = len(index)
    out += sparse.csc_matrix((np.ones(m, rows.dtype), index, np.arange(m + 1)), shape=(out.shape[0], m)) @ rows


def flat_add_at(out, index, rows):
    width = rows.shape[1]
    np.add.at(out.reshape(-1), (index[:, None] * width + np.arange(width)).reshape(-1), rows.reshape(-1))


def sort_segment_sum(out, index, rows):
    order = np.argsort(index, kind="stable")
    ranked = index[order]
    starts = np.flatnonzero(np.concatenate(([True], ranked[1:] != ranked[:-1])))
    out[ranked[starts]] += np.add.reduceat(rows[order], starts, axis=0)


KERNELS = {"np.add.at": add_at, "CSR product": csr_product, "CSC product": csc_product,
           "flat np.add.at": flat_add_at, "sort+reduceat": sort_segment_sum,
           "backend.index_add_rows": backend.index_add_rows}


def main() -> None:
    parser = cli.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=cli.integer(1), default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    zipf = 1 / np.arange(1, 10_001)
    zipf /= zipf.sum()
    cases = [  # (what, n rows in the table, m rows scattered, D)
        ("CBOW contexts, batch 4096 x 10", 10_000, 40_960, 100),
        ("CBOW targets+noise, batch 4096 x 6", 10_000, 24_576, 100),
        ("skip-gram pairs, batch 1024 x ~6 x 6", 10_000, 36_864, 100),
        ("small: batch 100 x 10", 10_000, 1_000, 100),
        ("RNN LM embedding, batch 10 x 5", 10_000, 50, 100),
        ("tiny: 64 rows", 10_000, 64, 100),
    ]
    print(f"best of {args.repeats}, milliseconds (ratio: np.add.at time / kernel time)")
    for what, n, m, d in cases:
        index = rng.choice(n, size=m, p=zipf).astype(np.int64)
        rows = rng.standard_normal((m, d)).astype(np.float32)
        expected = np.zeros((n, d), np.float32)
        add_at(expected, index, rows)
        times = {}
        for name, kernel in KERNELS.items():
            out = np.zeros((n, d), np.float32)
            kernel(out, index, rows)
            np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
            fresh = np.zeros((n, d), np.float32)
            times[name] = best_of(lambda k=kernel, o=fresh, i=index, r=rows: k(o, i, r), args.repeats)
        cells = ", ".join(f"{name} {t * 1e3:.2f} ({times['np.add.at'] / t:.1f}x)" for name, t in times.items())
        print(f"{what} [n={n} m={m} D={d}]: {cells}")


if __name__ == "__main__":
    cli.run(main)
