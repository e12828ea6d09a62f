"""Every differentiable op, grouped by family. Each op computes its forward with the backend's array
module and records one tape node whose ``backward`` returns the vector-Jacobian product per input.

This is also the one place where the ops become ``Tensor``'s operators and methods: ``tensor.py`` knows
nothing of them, so the dependencies point one way (``ops`` -> ``tensor`` -> ``tape`` -> ``backend``).
"""

from ..tensor import Tensor
from .activation import log_sigmoid, log_softmax, logsumexp, sigmoid, softmax
from .base import broadcast_to
from .elementwise import (
    abs,
    add,
    cast,
    clamp,
    clip,
    compare,
    div,
    exp,
    log,
    mul,
    neg,
    pow,
    relu,
    rpow,
    sqrt,
    sub,
    tanh,
    to,
    to_device,
    where,
)
from .index import gather, gather_dot, getitem, index_add, scatter_add
from .linalg import matmul
from .reduce import max, mean, min, std, sum, var
from .shape import (
    chunk,
    concatenate,
    flatten,
    identity,
    reshape,
    split,
    squeeze,
    stack,
    transpose,
    unbind,
    unsqueeze,
    view,
)

__all__ = [
    "abs", "add", "broadcast_to", "cast", "chunk", "clamp", "clip", "compare", "concatenate", "div", "exp", "flatten",
    "gather", "gather_dot", "getitem", "identity", "index_add", "log", "log_sigmoid", "log_softmax", "logsumexp",
    "matmul", "max", "mean", "min", "mul", "neg", "pow", "relu", "reshape", "rpow", "scatter_add", "sigmoid", "softmax",
    "split", "sqrt", "squeeze", "stack", "std", "sub", "sum", "tanh", "to", "to_device", "transpose", "unbind",
    "unsqueeze", "var", "view", "where",
]


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
    T.__neg__, T.__pow__, T.__rpow__, T.__getitem__, T.__abs__ = neg, pow, rpow, getitem, abs
    # Comparisons give boolean tensors that never require grad (masks for ``where``).
    for kind in ("lt", "le", "gt", "ge", "eq", "ne"):
        setattr(T, f"__{kind}__", lambda self, other, kind=kind: compare(kind, self, other))
    T.T = property(transpose, doc="The tensor with its axes reversed.")
    for op in (sum, mean, max, min, var, std, reshape, flatten, squeeze, unsqueeze, transpose, split, chunk, unbind,
               abs, sqrt, pow, exp, log, tanh, relu, sigmoid, log_sigmoid, softmax, log_softmax, logsumexp, clamp,
               gather, broadcast_to, to):
        setattr(T, op.__name__, op)
    T.view, T.clip = view, clip  # PyTorch's other names for reshape and clamp
    # PyTorch's dtype shorthands: differentiable casts like ``to``
    T.float = lambda self: cast(self, "float32")
    T.double = lambda self: cast(self, "float64")
    T.half = lambda self: cast(self, "float16")
    T.long = lambda self: cast(self, "int64")


_bind()
