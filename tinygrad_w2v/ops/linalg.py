"""Matrix product with ``np.matmul`` semantics (1-D operands, batched and broadcast leading axes)."""

from __future__ import annotations

from typing import Any

from .. import backend
from ..tensor import Tensor
from .base import lift, result, same_device


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
    xp = backend.xp_of(A)

    def backward(g):
        A2 = A if A.ndim > 1 else A[None, :]
        B2 = B if B.ndim > 1 else B[:, None]
        g2 = g  # restore the axes that 1-D operands dropped: (..., n, m), B's column first (a 0-d g needs that order)
        if B.ndim == 1:
            g2 = xp.expand_dims(g2, -1)
        if A.ndim == 1:
            g2 = xp.expand_dims(g2, -2)
        ga = gb = None
        if a.requires_grad:
            ga = backend.unbroadcast(g2 @ xp.swapaxes(B2, -1, -2), A2.shape).reshape(A.shape)
        if b.requires_grad:
            gb = backend.unbroadcast(xp.swapaxes(A2, -1, -2) @ g2, B2.shape).reshape(B.shape)
        return ga, gb

    return result("matmul", out, (a, b), backward)
