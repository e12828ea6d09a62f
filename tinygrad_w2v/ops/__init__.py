"""Every differentiable op, grouped by family. Each op computes its forward with the backend's array
module and records one tape node whose ``backward`` returns the vector-Jacobian product per input."""

from .activation import log_sigmoid, log_softmax, logsumexp, sigmoid, softmax
from .elementwise import add, compare, div, exp, log, mul, neg, pow, relu, rpow, sub, tanh, to_device, where
from .index import gather, getitem, scatter_add
from .linalg import matmul
from .reduce import max, mean, sum
from .shape import concatenate, reshape, stack, transpose

__all__ = [
    "add", "compare", "concatenate", "div", "exp", "gather", "getitem", "log", "log_sigmoid", "log_softmax",
    "logsumexp", "matmul", "max", "mean", "mul", "neg", "pow", "relu", "reshape", "rpow", "scatter_add", "sigmoid",
    "softmax", "stack", "sub", "sum", "tanh", "to_device", "transpose", "where",
]
