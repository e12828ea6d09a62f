"""Array backends: NumPy on the CPU, CuPy on a CUDA GPU.

This is the one place that knows which array module serves a device. Everything above it asks
``array_module(device)`` or ``device_of(array)`` and never imports CuPy itself. It also holds the one
scatter-add kernel (``index_add_rows``) that ``gather``'s backward, ``scatter_add`` and the row-sparse
gradients all use.
"""

from __future__ import annotations

import contextlib
from types import ModuleType
from typing import Any

import numpy as np

try:  # CuPy is an optional extra; its absence only matters when a user asks for 'cuda'.
    import cupy as _cupy
except Exception:  # pragma: no cover - depends on the machine
    _cupy = None

DEVICES = ("cpu", "cuda")
GPU_INSTALL_HINT = (
    "device 'cuda' needs CuPy and a CUDA GPU: install the gpu extra, e.g. "
    "`pip install 'tinygrad_w2v[gpu]'` (cupy-cuda12x), on a machine with an NVIDIA driver"
)

# Below this many rows NumPy's own ``np.add.at`` beats building a sparse matrix.
_SMALL_SCATTER = 256


def cuda_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    if _cupy is None:
        return False
    try:
        return _cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # pragma: no cover - depends on the machine
        return False


def check_device(device: str | None) -> str:
    """Normalise a device name ('cpu', 'cuda', 'cuda:0' -> 'cuda') and check that it can be used."""
    if device is None:
        return "cpu"
    name = str(device).split(":")[0]
    if name not in DEVICES:
        raise ValueError(f"unknown device {device!r}; expected one of {DEVICES}")
    if name == "cuda" and not cuda_available():
        raise RuntimeError(GPU_INSTALL_HINT)
    return name


def array_module(device: str) -> ModuleType:
    """The array module (``numpy`` or ``cupy``) that serves ``device``."""
    return np if device == "cpu" else _cupy


def device_of(array: Any) -> str:
    """'cuda' for a CuPy array, else 'cpu'."""
    return "cuda" if _cupy is not None and isinstance(array, _cupy.ndarray) else "cpu"


def xp_of(array: Any) -> ModuleType:
    """The array module an array belongs to (``device_of`` and ``array_module`` in one step: ops call it
    on every forward)."""
    return _cupy if _cupy is not None and isinstance(array, _cupy.ndarray) else np


def to_device(array: Any, device: str) -> Any:
    """Move (or keep) an array on ``device``."""
    if device == "cpu":
        return _cupy.asnumpy(array) if device_of(array) == "cuda" else np.asarray(array)
    check_device(device)
    return _cupy.asarray(array)


def to_numpy(array: Any) -> np.ndarray:
    """A NumPy copy-or-view of any backend array."""
    return to_device(array, "cpu")


def unbroadcast(g: Any, shape: tuple[int, ...]) -> Any:
    """Sum a broadcast gradient back to ``shape``: over leading axes broadcasting added, and over axes
    where ``shape`` has size 1. The one broadcasting-reduction helper: the tape's replay applies it to
    every gradient whose shape differs from its input's, so elementwise ops never call it themselves."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g


def quiet_floats(xp: ModuleType) -> Any:
    """A context in which NumPy does not warn about log(0), 0/0 and overflow (the results stay IEEE)."""
    return np.errstate(divide="ignore", invalid="ignore", over="ignore") if xp is np else contextlib.nullcontext()


def index_add_rows(out: Any, index: Any, rows: Any, source: Any = None, weight: Any = None) -> Any:
    """``out[index[i]] += weight[i] * rows[source[i]]`` for every i (``source`` defaults to ``i``, ``weight``
    to 1), summing repeated indices (``np.add.at`` semantics).

    ``out`` is ``(n, *rest)``, ``index``, ``source`` and ``weight`` are ``(m,)``, ``rows`` is ``(r, *rest)``;
    ``out`` is updated in place and returned. ``source`` lets a row that feeds several indices (a broadcast
    gradient) be read where it is, without first copying it ``m`` times; ``weight`` scales it on the way
    (the gradient of dot products with gathered rows).

    On the CPU, many rows into a table not much larger (the coalesced gradient of an embedding batch) are
    one sparse-matrix product ``out += S @ rows`` with the matrix ``S (n, r)``,
    ``S[index[i], source[i]] = weight[i]``, stored by columns (CSC): SciPy's compiled loop then walks the rows of
    ``rows`` in order and adds each into the rows of ``out`` it belongs to, duplicates summed in one pass
    (about 10x faster than ``np.add.at`` on rows). Few rows, or a large table (the product makes an
    ``out``-sized array), are one ``np.add.at`` on the flattened arrays: NumPy's fast path for 1-D operands
    is 4-6x faster than ``np.add.at`` on rows (see ``benchmarks/scatter_add.py``). On the GPU,
    ``cupyx.scatter_add``.
    """
    if index.shape[0] == 0 or rows.size == 0:
        return out
    if device_of(out) != "cpu":
        import cupyx

        cupyx.scatter_add(out, index, _picked(rows, source, weight))
        return out
    n = out.shape[0]
    index = _row_index(index, n)
    summed = _selector_product(n, index, rows, source, weight) if out.flags.c_contiguous else None
    if summed is not None:
        out.reshape(n, -1)[...] += summed
        return out
    return _add_at(out, index, rows, source, weight)


def _add_at(out: Any, index: Any, rows: Any, source: Any, weight: Any) -> Any:
    """``index_add_rows`` on the CPU with ``np.add.at``, for a checked ``index`` (see ``_row_index``)."""
    values = _picked(rows, source, weight)
    if rows.ndim == 1 or not out.flags.c_contiguous:
        np.add.at(out, index, values)
    else:  # element (i, j) of the (m, width) values goes to flat position index[i] * width + j
        width = values[0].size
        flat = (index[:, None] * width + np.arange(width)).reshape(-1)
        np.add.at(out.reshape(-1), flat, values.reshape(-1))
    return out


def index_sum_rows(n: int, index: Any, rows: Any, source: Any = None, weight: Any = None) -> Any:
    """A new ``(n, *rest)`` array whose row ``k`` is the sum of ``weight[i] * rows[source[i]]`` over every
    ``i`` with ``index[i] == k``: ``index_add_rows`` into zeros, without the zeros when the sparse-matrix
    product runs (its result is the array)."""
    shape = (n,) + rows.shape[1:]
    if index.shape[0] and rows.size and device_of(rows) == "cpu":
        index = _row_index(index, n)
        summed = _selector_product(n, index, rows, source, weight)
        if summed is not None:
            return summed.reshape(shape)
        return _add_at(np.zeros(shape, dtype=rows.dtype), index, rows, source, weight)
    return index_add_rows(xp_of(rows).zeros(shape, dtype=rows.dtype), index, rows, source, weight)


def _picked(rows: Any, source: Any, weight: Any) -> Any:
    """``weight[i] * rows[source[i]]`` for every ``i``, as an array (defaults as in ``index_add_rows``)."""
    values = rows if source is None else rows[source]
    return values if weight is None else values * weight.reshape((-1,) + (1,) * (rows.ndim - 1))


def _row_index(index: Any, n: int) -> Any:
    """``index`` checked to lie in ``[-n, n)`` (no kernel below checks: SciPy's would write outside its
    output), as ``intp`` (flat positions must not overflow int32) with negative entries wrapped."""
    low, high = int(index.min()), int(index.max())
    if low < -n or high >= n:
        raise IndexError(f"index_add_rows: index {low if low < -n else high} is out of range for {n} rows")
    index = index.astype(np.intp, copy=False)
    return np.where(index < 0, index + n, index) if low < 0 else index


def _selector_product(n: int, index: Any, rows: Any, source: Any, weight: Any) -> Any:
    """``S @ rows`` (``(n, width)``) for the CSC matrix ``S`` of ``index_add_rows``, or None when
    ``np.add.at`` is the faster kernel (few rows, a table much larger than the rows, 1-D rows)."""
    m = index.shape[0]
    if m < _SMALL_SCATTER or n > 4 * m or rows.ndim == 1:
        return None
    from scipy import sparse

    r = rows.shape[0]
    if source is None:
        starts = np.arange(m + 1)
    else:
        if np.any(source[1:] < source[:-1]):  # CSC stores the entries of each column together
            order = np.argsort(source, kind="stable")
            index, source = index[order], source[order]
            weight = None if weight is None else weight[order]
        starts = np.concatenate(([0], np.cumsum(np.bincount(source, minlength=r))))
    flat = rows.reshape(r, -1)
    entries = np.ones(m, dtype=flat.dtype) if weight is None else weight.astype(flat.dtype, copy=False)
    selector = sparse.csc_matrix((entries, index, starts), shape=(n, r))
    return selector @ flat


def unique_rows(index: Any, n: int) -> tuple[Any, Any]:
    """The sorted distinct values ``rows`` of an index array into ``n`` rows, and ``inverse`` with
    ``rows[inverse] == index``: ``np.unique(index, return_inverse=True)`` in O(m + n) by marking the rows
    present instead of sorting the m indices (several times faster for an embedding batch)."""
    xp = xp_of(index)
    present = xp.zeros(n, dtype=bool)
    present[index] = True
    position = xp.cumsum(present) - 1
    return xp.flatnonzero(present), position[index]


def add_at(out: Any, key: Any, values: Any) -> Any:
    """``out[key] += values`` with repeated indices summed, for any NumPy index ``key`` (``np.add.at``).

    A single integer index array (the embedding-lookup case) goes through ``index_add_rows``."""
    if hasattr(key, "dtype") and key.dtype.kind in "iu":
        n = out.shape[0]
        return index_add_rows(out, key.reshape(-1) % n, values.reshape((key.size,) + out.shape[1:]))
    if device_of(out) == "cuda":
        import cupyx

        cupyx.scatter_add(out, key, values)
    else:
        np.add.at(out, key, values)
    return out
