"""``Tensor``: an array, its gradient, and operator overloads that call the ops in ``tinygrad_w2v.ops``.

A tensor holds its backend array in ``.data`` (NumPy on the CPU, CuPy on the GPU). A tensor made by a
recorded op points at the tape ``Node`` that made it (``grad_fn``); a leaf has none. ``backward`` asks
the tape to replay the recorded ops in reverse. How each op differentiates lives in ``ops/``; this
module only forwards to it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import backend, tape


class Tensor:
    """An n-dimensional array that can record the ops applied to it and differentiate through them.

    ``Tensor(data, requires_grad=False, dtype=None, device=None, name=None)``: ``data`` is a Python
    scalar, a (nested) list or an array. Python floats become float32 (as in PyTorch); arrays keep
    their dtype, so float64 stays float64. Only floating-point tensors can require gradients.
    """

    # Class-level defaults: an op's output is made by setting only ``data`` (see ``_wrap``), which keeps
    # the per-op overhead low; any other attribute is written to the instance only when it changes.
    grad: Any = None
    requires_grad: bool = False
    grad_fn: Any = None
    name: str | None = None
    sparse_grad: bool = False
    __array_priority__ = 1000
    __array_ufunc__ = None  # ``ndarray + Tensor`` defers to ``Tensor.__radd__`` instead of broadcasting objects

    def __init__(
        self,
        data: Any,
        requires_grad: bool = False,
        dtype: Any = None,
        device: str | None = None,
        name: str | None = None,
    ):
        if isinstance(data, Tensor):
            data = data.data
        explicit_array = hasattr(data, "dtype") and hasattr(data, "shape")
        if device is None:
            device = backend.device_of(data) if explicit_array else "cpu"
        device = backend.check_device(device)
        xp = backend.array_module(device)
        if explicit_array:
            array = backend.to_device(data, device)
            if dtype is not None:
                array = array.astype(dtype, copy=False)
        else:
            array = xp.asarray(data, dtype=dtype)
            if dtype is None and array.dtype == np.float64:
                array = array.astype(np.float32)
        self.data = array
        if name is not None:
            self.name = name
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, data: Any) -> Tensor:
        """A constant tensor around an existing backend array (no copy, no checks): the ops' fast path."""
        t = object.__new__(cls)
        t.data = data
        return t

    # ----- attributes -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def device(self) -> str:
        return backend.device_of(self.data)

    @property
    def is_leaf(self) -> bool:
        """True for tensors not made by a recorded op (inputs and parameters)."""
        return self.grad_fn is None

    @property
    def T(self) -> Tensor:
        return F.transpose(self)

    def __len__(self) -> int:
        return len(self.data)

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous; use .any() on the data")
        return bool(self.data)

    def requires_grad_(self, mode: bool = True) -> Tensor:
        """Set ``requires_grad`` in place; only floating-point tensors may require gradients."""
        if mode and self.data.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require gradients; this tensor has dtype {self.data.dtype} "
                f"and shape {self.data.shape}"
            )
        self.requires_grad = bool(mode)
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor during backward (leaves always keep theirs)."""
        if self.grad_fn is not None:
            self.grad_fn.retained = self

    # ----- gradients --------------------------------------------------------------------------
    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        ``grad`` is the upstream gradient (same shape as ``self``); it may be omitted only for a
        tensor with one element. With ``retain_graph=False`` the arrays the ops saved are freed.
        """
        if not self.requires_grad:
            why = f" (dtype {self.dtype} cannot require grad)" if self.dtype.kind != "f" else ""
            raise RuntimeError(
                f"backward: this tensor of shape {self.shape} does not require grad and has no grad_fn{why}"
            )
        xp = backend.xp_of(self.data)
        if grad is None:
            if self.data.size != 1:
                raise ValueError(
                    f"backward: grad can be implicitly created only for a tensor with one element; "
                    f"got shape {self.shape}, pass grad= of that shape"
                )
            grad = xp.ones_like(self.data)
        else:
            grad = grad.data if isinstance(grad, Tensor) else xp.asarray(grad, dtype=self.dtype)
            if grad.shape != self.shape:
                raise ValueError(f"backward: grad has shape {grad.shape} but the tensor has shape {self.shape}")
        tape.backward(self, grad, retain_graph=retain_graph)

    def _accumulate_grad(self, g: Any) -> None:
        """``grad += g``, never in place: the first gradient is copied, later ones make a new sum."""
        self.grad = g.copy() if self.grad is None else self.grad + g

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (sets ``.grad`` to None, as PyTorch does by default)."""
        self.grad = None

    def detach(self) -> Tensor:
        """The same data, cut from the graph (no grad_fn, no grad)."""
        return Tensor._wrap(self.data)

    # ----- conversion -------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (copied from the GPU if needed)."""
        return backend.to_numpy(self.data)

    def item(self) -> float | int | bool:
        """The single element as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted; got shape {self.shape}")
        return self.data.item()

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def to(self, device: str) -> Tensor:
        """A copy on ``device`` that keeps ``requires_grad``; the copy is differentiable."""
        return F.to_device(self, backend.check_device(device))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        a = self.numpy()
        if dtype is not None and a.dtype != dtype:
            return a.astype(dtype)  # a new array already
        return a.copy() if copy else a

    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), separator=", ", prefix="Tensor(", threshold=50)
        extras = [f"dtype={self.dtype}"]
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.op}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        if self.name:
            extras.append(f"name={self.name!r}")
        return f"Tensor({body}, {', '.join(extras)})"

    def _repr_svg_(self) -> str:
        """Jupyter shows a tensor as the drawing of the graph that produced it."""
        from .viz import draw_graph

        return draw_graph(self).pipe(format="svg").decode()

    __hash__ = object.__hash__

    # Operators and methods are the ops themselves, bound at the end of this module (one Python call
    # less per op than a wrapper method); the reflected operators swap their operands.
    def __radd__(self, other: Any) -> Tensor:
        return F.add(other, self)

    def __rsub__(self, other: Any) -> Tensor:
        return F.sub(other, self)

    def __rmul__(self, other: Any) -> Tensor:
        return F.mul(other, self)

    def __rtruediv__(self, other: Any) -> Tensor:
        return F.div(other, self)

    def __rmatmul__(self, other: Any) -> Tensor:
        return F.matmul(other, self)

    def __rpow__(self, other: Any) -> Tensor:
        return F.rpow(self, other)

    # Comparisons give boolean tensors that never require grad (masks for ``where``).
    def __lt__(self, other: Any) -> Tensor:
        return F.compare("lt", self, other)

    def __le__(self, other: Any) -> Tensor:
        return F.compare("le", self, other)

    def __gt__(self, other: Any) -> Tensor:
        return F.compare("gt", self, other)

    def __ge__(self, other: Any) -> Tensor:
        return F.compare("ge", self, other)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return F.compare("eq", self, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return F.compare("ne", self, other)


from . import ops as F  # noqa: E402  (ops import Tensor; the methods above look F up at call time)

Tensor.__add__ = F.add
Tensor.__sub__ = F.sub
Tensor.__mul__ = F.mul
Tensor.__truediv__ = F.div
Tensor.__neg__ = F.neg
Tensor.__pow__ = F.pow
Tensor.__matmul__ = F.matmul
Tensor.__getitem__ = F.getitem
Tensor.sum = F.sum
Tensor.mean = F.mean
Tensor.max = F.max
Tensor.reshape = F.reshape
Tensor.transpose = F.transpose
Tensor.exp = F.exp
Tensor.log = F.log
Tensor.tanh = F.tanh
Tensor.relu = F.relu
Tensor.sigmoid = F.sigmoid
Tensor.log_sigmoid = F.log_sigmoid
Tensor.softmax = F.softmax
Tensor.log_softmax = F.log_softmax
Tensor.logsumexp = F.logsumexp
Tensor.gather = F.gather
