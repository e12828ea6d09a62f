"""Matrix product with ``np.matmul`` semantics (1-D operands, batched and broadcast leading axes)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from ..tensor import Tensor
from .base import add_tangents, either, lift, result, same_device
from .shape import transpose


def matmul(a: Any, b: Any) -> Tensor:
    """``a @ b``. For 2-D operands the gradients are ``g @ b.T`` and ``a.T @ g``; 1-D operands are
    treated as a row (``a``) or column (``b``) vector, and batch axes broadcast as in ``np.matmul``."""
    like = a if isinstance(a, Tensor) else b
    a, b = lift(a, like), lift(b, like)
    same_device("matmul", a, b)
    A, B = a._data, b._data
    inner_b = B.shape[-2] if B.ndim > 1 else (B.shape[0] if B.ndim else None)
    if A.ndim == 0 or B.ndim == 0 or A.shape[-1] != inner_b:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned for a matrix product")
    try:
        out = A @ B
    except ValueError as e:
        raise ValueError(f"matmul: batch shapes of {a.shape} and {b.shape} cannot be broadcast") from e
    ndim_a, ndim_b, need_a, need_b = A.ndim, B.ndim, a.requires_grad, b.requires_grad

    def vjp(g, out, a, b):
        A2 = a if ndim_a > 1 else a.reshape((1, -1))
        B2 = b if ndim_b > 1 else b.reshape((-1, 1))
        # restore the axes that 1-D operands dropped: (..., n, m), B's column first (a 0-d g needs that order)
        g2 = g if ndim_b > 1 else g.reshape(g.shape + (1,))
        g2 = g2 if ndim_a > 1 else g2.reshape(g2.shape[:-1] + (1,) + g2.shape[-1:])
        ga = backend.unbroadcast(_product(g2, _swap(B2)), A2.shape).reshape(a.shape) if need_a else None
        gb = backend.unbroadcast(_product(_swap(A2), g2), B2.shape).reshape(b.shape) if need_b else None
        return ga, gb

    def jvp(ts, out, a, b):
        ta, tb = ts  # d(a @ b) = da @ b + a @ db
        return add_tangents(None if ta is None else ta @ b, None if tb is None else a @ tb)

    return result("matmul", out, (a, b), vjp, jvp)


def _swap_tensor(t: Tensor) -> Tensor:
    axes = list(range(t.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return transpose(t, tuple(axes))


def _product(x: Any, y: Any) -> Any:
    """``x @ y``; an outer product (inner size 1, e.g. the gradient of batched dot products) as a product
    without a sum, the same values several times faster than ``matmul``: a broadcast ``x * y``, or on
    NumPy arrays ``einsum``, whose loop beats the broadcast product by 2x there."""
    if x.shape[-1] != 1:
        return x @ y
    if isinstance(x, Tensor) or backend.xp_of(x) is not np:
        return x * y
    return np.einsum("...ij,...jk->...ik", x, y)


_swap = either(_swap_tensor, lambda x: backend.xp_of(x).swapaxes(x, -1, -2))
