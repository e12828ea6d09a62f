"""Every differentiable op, grouped by family. Each op computes its forward with the backend's array
module and records one tape node whose ``backward`` returns the vector-Jacobian product per input.

This is also the one place where the ops become ``Tensor``'s operators and methods: ``tensor.py`` knows
nothing of them, so the dependencies point one way (``ops`` -> ``tensor`` -> ``tape`` -> ``backend``).
"""

from typing import Any

from ..backend import check_device
from ..tensor import Tensor
from .activation import log_sigmoid, log_softmax, logsumexp, sigmoid, softmax
from .base import broadcast_to
from .elementwise import add, cast, compare, div, exp, log, mul, neg, pow, relu, rpow, sub, tanh, to_device, where
from .index import gather, getitem, index_add, scatter_add
from .linalg import matmul
from .reduce import max, mean, sum
from .shape import concatenate, identity, reshape, stack, transpose

__all__ = [
    "add", "broadcast_to", "cast", "compare", "concatenate", "div", "exp", "gather", "getitem", "identity",
    "index_add", "log", "log_sigmoid", "log_softmax", "logsumexp", "matmul", "max", "mean", "mul", "neg", "pow",
    "relu", "reshape", "rpow", "scatter_add", "sigmoid", "softmax", "stack", "sub", "sum", "tanh", "to_device",
    "transpose", "where",
]


def _to(self: Tensor, target: Any) -> Tensor:
    """``t.to('cuda')`` / ``t.to('cpu')``: a differentiable copy on that device; ``t.to(np.float64)``: a
    differentiable cast (``t`` itself when it already has that dtype), as in PyTorch."""
    if isinstance(target, str):
        return to_device(self, check_device(target))
    return cast(self, target)


def _bind() -> None:
    """Attach the ops to ``Tensor``. The forward operators are the op functions themselves (one Python call
    less per op than a wrapper method); the reflected ones swap their operands."""
    T = Tensor
    T.__add__, T.__sub__, T.__mul__, T.__truediv__, T.__matmul__ = add, sub, mul, div, matmul
    T.__radd__ = lambda self, other: add(other, self)
    T.__rsub__ = lambda self, other: sub(other, self)
    T.__rmul__ = lambda self, other: mul(other, self)
    T.__rtruediv__ = lambda self, other: div(other, self)
    T.__rmatmul__ = lambda self, other: matmul(other, self)
    T.__neg__, T.__pow__, T.__rpow__, T.__getitem__ = neg, pow, rpow, getitem
    # Comparisons give boolean tensors that never require grad (masks for ``where``).
    for kind in ("lt", "le", "gt", "ge", "eq", "ne"):
        setattr(T, f"__{kind}__", lambda self, other, kind=kind: compare(kind, self, other))
    T.T = property(transpose, doc="The tensor with its axes reversed.")
    T.to = _to
    for op in (sum, mean, max, reshape, transpose, exp, log, tanh, relu, sigmoid, log_sigmoid, softmax, log_softmax,
               logsumexp, gather, broadcast_to):
        setattr(T, op.__name__, op)


_bind()
