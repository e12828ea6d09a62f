"""Indexing ops: ``getitem``, ``gather`` (``np.take``), ``gather_dot`` (dot products with gathered rows) and
``scatter_add`` (``np.add.at``).

``gather`` and ``scatter_add`` are each other's adjoints: the gradient of a gather is a scatter-add of
the upstream gradient into zeros, and the gradient of a scatter-add with respect to ``src`` is a gather
of the upstream gradient. Both use the one scatter kernel, ``backend.index_add_rows``.
"""

from __future__ import annotations

import math
from typing import Any

from .. import backend
from ..sparse import RowSparse
from ..tensor import Tensor
from .base import add_tangents, either, lift, result, same_device, zeros


def _own_copy(array: Any, device: str) -> Any:
    """``array`` on ``device``, never the caller's own array: the backward must see the indices the forward
    saw, whatever the caller does with its buffer later (one copy, or none when moving made a new array)."""
    moved = backend.to_device(array, device) if backend.device_of(array) != device else array
    moved = backend.array_module(device).asarray(moved)
    return moved.copy() if moved is array else moved


def _index_array(op: str, index: Any, x: Tensor, axis: int) -> Any:
    """``index`` as an integer array on ``x``'s device with every entry in ``[-n, n)`` for ``n = x.shape[axis]``."""
    idx = _own_copy(index._data if isinstance(index, Tensor) else index, x.device)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{op}: index must be an integer array, got dtype {idx.dtype} with shape {idx.shape}")
    n = x.shape[axis]
    if idx.size and (int(idx.min()) < -n or int(idx.max()) >= n):
        bad = idx[(idx < -n) | (idx >= n)].ravel()[0]
        raise IndexError(
            f"{op}: index {int(bad)} is out of range for axis {axis} of size {n} (tensor shape {x.shape})"
        )
    return idx


def _axis(op: str, axis: int, ndim: int) -> int:
    if not -ndim <= axis < ndim:
        raise ValueError(f"{op}: axis {axis} is out of range for a tensor with {ndim} dimensions")
    return axis % ndim


def _scatter_rows(shape: tuple[int, ...], axis: int, idx: Any, values: Any) -> Any:
    """A zero array of ``shape`` with ``values`` (shaped like ``take(zeros(shape), idx, axis)``) added at
    ``idx`` along ``axis``, duplicates summed."""
    xp = backend.xp_of(values)
    k = idx.ndim
    # Bring the index axes of ``values`` to the front: (m, *shape[:axis], *shape[axis+1:]).
    rows = xp.moveaxis(values, tuple(range(axis, axis + k)), tuple(range(k))).reshape(
        (idx.size,) + shape[:axis] + shape[axis + 1 :]
    )
    front = backend.index_sum_rows(shape[axis], idx.reshape(-1) % shape[axis], xp.ascontiguousarray(rows))
    return xp.moveaxis(front, 0, axis)


def _compact(g: Any, k: int) -> tuple[Any, Any]:
    """``g`` (``idx.shape + rest``, ``k = idx.ndim``) as rows ``(r, *rest)`` plus ``source (m,)``, the row
    that index element ``j`` reads (None: row ``j``). Index axes along which ``g`` is broadcast (stride 0,
    e.g. the backward of a mean over contexts) keep one row, so the repeated rows are never copied out."""
    shared = [a for a in range(k) if g.strides[a] == 0 and g.shape[a] > 1]
    if not shared:
        return g.reshape((-1,) + g.shape[k:]), None
    xp = backend.xp_of(g)
    small = g[tuple(slice(0, 1) if a in shared else slice(None) for a in range(k))]
    r = math.prod(small.shape[:k])
    source = xp.broadcast_to(xp.arange(r).reshape(small.shape[:k]), g.shape[:k]).reshape(-1)
    return small.reshape((r,) + g.shape[k:]), source


def _row_sparse(shape: tuple[int, ...], idx: Any, g: Any) -> RowSparse:
    """The gradient of ``gather(x, idx, 0)`` for ``x`` of ``shape`` as a coalesced ``RowSparse``: one row per
    distinct index, repeats summed, so it costs O(batch x dim) and the optimizer gets unique rows."""
    rows, inverse = backend.unique_rows(idx.reshape(-1) % shape[0], shape[0])
    compact, source = _compact(g, idx.ndim)
    return RowSparse(rows, backend.index_sum_rows(rows.shape[0], inverse, compact, source), shape, coalesced=True)


def gather(x: Tensor, index: Any, axis: int = 0) -> Tensor:
    """``np.take(x, index, axis)``: shape ``x.shape[:axis] + index.shape + x.shape[axis+1:]``.

    The backward scatter-adds the gradient into zeros. When ``x`` is a leaf with ``sparse_grad`` set
    (an ``nn.Embedding(sparse=True)`` weight) and ``axis == 0``, the gradient is a ``RowSparse``
    holding only the gathered rows (repeats summed), so an embedding step costs O(batch x dim), not
    O(vocab x dim).
    """
    axis = _axis("gather", axis, x.ndim)
    idx = _index_array("gather", index, x, axis)
    out = backend.xp_of(x._data).take(x._data, idx, axis=axis)
    shape, sparse = x.shape, x.sparse_grad and axis == 0 and x.grad_fn is None

    def vjp(g, out, x):
        if isinstance(g, Tensor):  # recorded (create_graph): a dense scatter-add, differentiable again
            return (scatter_add(zeros(shape, g), idx, g, axis),)
        return (_row_sparse(shape, idx, g) if sparse else _scatter_rows(shape, axis, idx, g),)

    return result("gather", out, (x,), vjp, lambda ts, out, x: _take(ts[0], idx, axis),
                  {"axis": axis, "index_shape": idx.shape})


def gather_dot(x: Tensor, index: Any, v: Any) -> Tensor:
    """``(take(x, index, 0) @ v[..., None])[..., 0]``: the dot product of each row of ``x (n, D)`` that
    ``index (*S, K)`` picks with the vector of its batch entry in ``v (*S, D)`` (batch axes broadcast);
    shape ``(*S, K)``. The scores ``u_w . v`` of negative sampling, or the book's ``EmbeddingDot``.

    The gradient for ``v`` is ``sum_k g[..., k] * x[index[..., k]]``; for ``x``, row ``index[s, k]`` gets
    ``g[s, k] * v[s]``, summed in one weighted sparse product without forming the ``(*S, K, D)`` gradient
    of the picked rows. A ``RowSparse`` when ``x`` is a sparse embedding weight (as ``gather``).
    """
    like = x if isinstance(x, Tensor) else v
    x, v = lift(x, like), lift(v, like)
    same_device("gather_dot", x, v)
    if x.ndim != 2 or v.ndim < 1 or v.shape[-1] != x.shape[1]:
        raise ValueError(f"gather_dot: x must be (n, D) and v (..., D), got {x.shape} and {v.shape}")
    idx = _index_array("gather_dot", index, x, 0)
    xp = backend.xp_of(x._data)
    try:
        batch = xp.broadcast_shapes(idx.shape[:-1], v.shape[:-1])
    except ValueError as e:
        raise ValueError(f"gather_dot: index of shape {idx.shape} and v of shape {v.shape} have batch shapes "
                         f"that do not broadcast") from e
    if idx.ndim == 0 or batch != idx.shape[:-1]:
        raise ValueError(f"gather_dot: index must be (..., K) with batch shape {batch}, got {idx.shape}")
    rows = xp.take(x._data, idx, axis=0)  # (*S, K, D), kept for the gradient of v
    out = (rows @ v._data[..., None])[..., 0]
    n, sparse = x.shape[0], x.sparse_grad and x.grad_fn is None
    need_x, need_v = x.requires_grad, v.requires_grad

    def vjp(g, out, x, v):
        if isinstance(g, Tensor):  # recorded (create_graph): the same sums as differentiable ops
            gv = (g.reshape(*g.shape[:-1], 1, g.shape[-1]) @ gather(x, idx, 0)).reshape(*g.shape[:-1], x.shape[1])
            spread = g.reshape(*g.shape, 1) * v.reshape(*v.shape[:-1], 1, v.shape[-1])
            return scatter_add(zeros(x.shape, g), idx, spread), gv
        gv = (g[..., None, :] @ rows)[..., 0, :] if need_v else None
        if not need_x:
            return None, gv
        # row index[s, k] of x gets g[s, k] * v[s]: entry s * K + k of the flat index reads row s of v
        per_batch = xp.broadcast_to(v, batch + v.shape[-1:]).reshape(-1, v.shape[-1])
        source = xp.repeat(xp.arange(per_batch.shape[0]), idx.shape[-1])
        flat, weight = idx.reshape(-1) % n, g.reshape(-1)
        if not sparse:
            return backend.index_sum_rows(n, flat, per_batch, source, weight), gv
        picked, inverse = backend.unique_rows(flat, n)
        values = backend.index_sum_rows(picked.shape[0], inverse, per_batch, source, weight)
        return RowSparse(picked, values, (n, x.shape[1]), coalesced=True), gv

    def jvp(ts, out, x, v):
        tx, tv = ts  # d(u . v) = du . v + u . dv
        return add_tangents(None if tx is None else _gather_dot(tx, idx, v),
                            None if tv is None else _gather_dot(x, idx, tv))

    return result("gather_dot", out, (x, v), vjp, jvp, {"index_shape": idx.shape})


def scatter_add(x: Any, index: Any, src: Any, axis: int = 0) -> Tensor:
    """A new tensor: ``x`` with ``src`` added at ``index`` along ``axis`` (repeats summed, ``np.add.at``).

    ``src`` has the shape of ``gather(x, index, axis)`` and a dtype that casts to ``x``'s without losing
    values (float64 into float32 is fine; floats into an integer tensor are an error, as in PyTorch, which
    requires equal dtypes). Differentiable in ``x`` (identity) and in
    ``src`` (a gather of the upstream gradient).
    """
    like = x if isinstance(x, Tensor) else src
    x, src = lift(x, like), lift(src, like)
    same_device("scatter_add", x, src)
    axis = _axis("scatter_add", axis, x.ndim)
    idx = _index_array("scatter_add", index, x, axis)
    expected = x.shape[:axis] + idx.shape + x.shape[axis + 1 :]
    if src.shape != expected:
        raise ValueError(
            f"scatter_add: src has shape {src.shape} but x of shape {x.shape} with index of shape {idx.shape} "
            f"along axis {axis} needs {expected}"
        )
    if not backend.xp_of(x._data).can_cast(src.dtype, x.dtype, "same_kind"):
        raise TypeError(
            f"scatter_add: cannot add src of dtype {src.dtype} into x of dtype {x.dtype} without losing values "
            f"(PyTorch refuses it too); convert one of them first, e.g. x.to({src.dtype.name!r})"
        )
    out = x._data + _scatter_rows(x.shape, axis, idx, src._data.astype(x.dtype, copy=False))
    shape, need_src = x.shape, src.requires_grad

    def vjp(g, out, x, src):
        return g, _take(g, idx, axis) if need_src else None

    def jvp(ts, out, x, src):
        tx, tsrc = ts
        if tsrc is None:
            return tx
        spread = scatter_add(zeros(shape, tsrc), idx, tsrc, axis) if isinstance(tsrc, Tensor) else \
            _scatter_rows(shape, axis, idx, tsrc)
        return add_tangents(tx, spread)

    return result("scatter_add", out, (x, src), vjp, jvp, {"axis": axis, "index_shape": idx.shape})


_gather_dot = either(gather_dot, lambda x, idx, v: (backend.xp_of(x).take(x, idx, axis=0) @ v[..., None])[..., 0])
_take = either(lambda t, idx, axis: gather(t, idx, axis), lambda a, idx, axis: backend.xp_of(a).take(a, idx, axis=axis))


def _is_advanced(key: Any) -> bool:
    parts = key if isinstance(key, tuple) else (key,)
    return any(not isinstance(p, (int, slice, type(None), type(Ellipsis))) for p in parts)


def getitem(x: Tensor, key: Any) -> Tensor:
    """``x[key]`` with NumPy semantics (slices, integers, integer/boolean arrays, mixed tuples).

    The gradient is a scatter-add, so repeated indices accumulate."""
    parts = key if isinstance(key, tuple) else (key,)
    parts = tuple(p._data if isinstance(p, Tensor) else p for p in parts)
    # Index arrays are copied (moved to the GPU for a GPU tensor): the backward must see what the forward saw.
    parts = tuple(_own_copy(p, x.device) if hasattr(p, "shape") else p for p in parts)
    key = parts if isinstance(key, tuple) else parts[0]
    try:
        out = x._data[key]
    except IndexError as e:
        raise IndexError(f"getitem: {e} (tensor shape {x.shape})") from e
    shape = x.shape
    index = tuple(f"array{p.shape}" if hasattr(p, "shape") else p for p in parts)  # pictures keep no array
    return result("getitem", out, (x,), lambda g, out, x: (_index_add(shape, key, g),),
                  lambda ts, out, x: ts[0][key], {"key": index})


def index_add(shape: tuple[int, ...], key: Any, src: Tensor) -> Tensor:
    """Zeros of ``shape`` with ``src`` added at ``[key]``, repeats summed: the adjoint of ``x[key]``, so the
    gradient of indexing stays differentiable (``create_graph``). Its own VJP is indexing again."""
    out = _index_add_arrays(shape, key, src._data)
    return result("index_add", out, (src,), lambda g, out, src: (g[key],),
                  lambda ts, out, src: _index_add(shape, key, ts[0]))


def _index_add_arrays(shape: tuple[int, ...], key: Any, g: Any) -> Any:
    gx = backend.xp_of(g).zeros(shape, dtype=g.dtype)
    if _is_advanced(key):
        backend.add_at(gx, key, g)
    else:
        gx[key] = g
    return gx


_index_add = either(lambda shape, key, g: index_add(shape, key, g), _index_add_arrays)
