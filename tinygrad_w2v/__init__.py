"""tinygrad_w2v: a small tape-based reverse-mode autograd engine over NumPy (CuPy on a GPU), with
word2vec and RNN language-model trainers written as plain tensor expressions."""

from . import func
from .autograd import grad
from .function import Function
from .ops import (
    chunk,
    clamp,
    clip,
    concatenate,
    flatten,
    gather,
    gather_dot,
    log_sigmoid,
    log_softmax,
    logsumexp,
    scatter_add,
    sigmoid,
    softmax,
    split,
    sqrt,
    squeeze,
    stack,
    std,
    unbind,
    unsqueeze,
    var,
    where,
)
from .sparse import RowSparse
from .tape import enable_grad, is_grad_enabled, name_scope, no_grad, record, set_grad_enabled
from .tensor import Tensor, from_numpy
from .testing import gradcheck

__version__ = "0.1.0"

__all__ = [
    "Function", "RowSparse", "Tensor", "chunk", "clamp", "clip", "concatenate", "enable_grad", "flatten", "from_numpy",
    "func", "gather", "gather_dot", "grad", "gradcheck", "is_grad_enabled", "log_sigmoid", "log_softmax", "logsumexp",
    "name_scope", "no_grad", "record", "scatter_add", "set_grad_enabled", "sigmoid", "softmax", "split", "sqrt",
    "squeeze", "stack", "std", "unbind", "unsqueeze", "var", "where",
]
