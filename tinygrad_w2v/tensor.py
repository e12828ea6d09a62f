"""``Tensor``: an array, its gradient, and operator overloads that call the ops in ``tinygrad_w2v.ops``.

A tensor holds its backend array in ``.data`` (NumPy on the CPU, CuPy on the GPU). A tensor made by a
recorded op points at the tape ``Node`` that made it (``grad_fn``); a leaf has none. ``backward`` asks
the tape to replay the recorded ops in reverse. How each op differentiates lives in ``ops/``; this
module knows nothing of any op: the operators and methods (``+``, ``@``, ``sum``, ``T``...) are the ops
themselves, attached to the class in one visible place, ``tinygrad_w2v/ops/__init__.py``.
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

    # Class-level defaults: an op's output is made by setting only ``_data`` (see ``_wrap``), which keeps
    # the per-op overhead low; any other attribute is written to the instance only when it changes.
    grad: Any = None
    requires_grad: bool = False
    grad_fn: Any = None
    _name: str | None = None
    sparse_grad: bool = False
    _used_by: Any = None  # leaves: weak reference to the last node that recorded this tensor as an input
    _watch: Any = None  # ((array nodes up to seq saw, its copy or None, seq), ...): checked by the backward
    _tangents: dict[int, Tensor] | None = None  # forward mode: tangent per open level (see dual.py)
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
        """Copy ``data`` (like ``torch.tensor``; ``from_numpy`` shares an array instead)."""
        if isinstance(data, Tensor):
            data = data._data
        explicit_array = hasattr(data, "dtype") and hasattr(data, "shape")
        if device is None:
            device = backend.device_of(data) if explicit_array else "cpu"
        device = backend.check_device(device)
        xp = backend.array_module(device)
        if explicit_array:
            array = backend.to_device(data, device)
            array = array.astype(dtype if dtype is not None else array.dtype, copy=array is data)
        else:
            array = xp.asarray(data, dtype=dtype)
            if dtype is None and array.dtype == np.float64:
                array = array.astype(np.float32)
        self._data = array
        if name is not None:
            self.name = name
        if requires_grad:
            self.requires_grad_(True)

    @property
    def name(self) -> str | None:
        """A label for listings and pictures; a result's name is also kept by its node, so that it still
        shows after a backward has released the graph."""
        return self._name

    @name.setter
    def name(self, value: str | None) -> None:
        self._name = value
        if self.grad_fn is not None:
            self.grad_fn.out_name = value

    @classmethod
    def from_numpy(cls, array: Any) -> Tensor:
        """A tensor that shares ``array``'s memory (``torch.from_numpy``): writes to one show in the other."""
        if not (hasattr(array, "dtype") and hasattr(array, "shape")):
            raise TypeError(f"from_numpy: expected an array, got {type(array).__name__}")
        return cls._wrap(array)

    @classmethod
    def _wrap(cls, data: Any) -> Tensor:
        """A constant tensor around an existing backend array (no copy, no checks): the ops' fast path."""
        t = object.__new__(cls)
        t._data = data
        return t

    @property
    def data(self) -> Any:
        """The backend array (shared, not copied). Values a recorded graph still needs are protected: if
        a node that has not been backpropagated yet needs this tensor's values, the array handed out here
        is remembered (with a copy of its values) and the backward raises if it was changed in between,
        as PyTorch does for in-place changes. Optimizers and updates after the backward are unaffected."""
        self._watch_if_needed()
        return self._data

    @data.setter
    def data(self, array: Any) -> None:
        """Rebind the array. For a leaf, a backward through a node that saw the old one raises. A result
        keeps its place in the graph: ops recorded before see the old values (their nodes hold them), ops
        recorded after see the new ones, and gradients still flow back through the op that made it."""
        node = self.grad_fn
        if node is not None:
            self.grad_fn = tape.rebound(node, array)
        else:
            self._watch_if_needed(rebinding=True)
        self._data = array

    def _watch_if_needed(self, rebinding: bool = False) -> None:
        """Remember the array (and, unless it is being rebound, a copy of its values) while a graph that has
        not been backpropagated may need them: for a leaf, while the last node that took it as an input is
        alive and unreleased (on the leaf); for a result, while the node that made it is (on that node,
        which holds the array its consumers use; they are replayed before it)."""
        node = holder = self.grad_fn
        if node is None:
            ref = self._used_by
            node = None if ref is None else ref()
            holder = self
        if node is None or node.released:
            return
        seq = tape.next_seq()  # every node recorded so far may have seen the current values
        entry = (self._data, None if rebinding else self._data.copy(), seq)
        holder._watch = (*(holder._watch or ()), entry)
        tape.watching = True

    # ----- attributes -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        return self._data.size

    @property
    def device(self) -> str:
        return backend.device_of(self._data)

    @property
    def is_leaf(self) -> bool:
        """True for tensors not made by a recorded op (inputs and parameters)."""
        return self.grad_fn is None

    def __len__(self) -> int:
        return len(self._data)

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous; use .any() on the data")
        return bool(self._data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.kind not in "iu":
            raise TypeError(f"only integer tensors of one element can be used as an index, not dtype {self.dtype}")
        return int(self.item())

    def requires_grad_(self, mode: bool = True) -> Tensor:
        """Set ``requires_grad`` in place; only floating-point tensors may require gradients."""
        if mode and self._data.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require gradients; this tensor has dtype {self._data.dtype} "
                f"and shape {self._data.shape}"
            )
        self.requires_grad = bool(mode)
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor during backward (leaves always keep theirs)."""
        if self.grad_fn is not None:
            tape.made_by(self).retained = self

    # ----- gradients --------------------------------------------------------------------------
    def backward(self, grad: Any = None, retain_graph: bool | None = None, create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        ``grad`` is the upstream gradient (same shape as ``self``, cast to its dtype); it may be omitted
        only for a tensor with one element. Unless ``retain_graph`` (default: ``create_graph``) the arrays
        the ops saved are freed. ``.grad`` holds an array (a ``RowSparse`` for a sparse embedding); with
        ``create_graph=True`` the backward itself is recorded and ``.grad`` holds a Tensor that can be
        differentiated again (as in PyTorch), dense for embeddings too.
        """
        if not self.requires_grad:
            why = f" (dtype {self.dtype} cannot require grad)" if self.dtype.kind != "f" else ""
            raise RuntimeError(
                f"backward: this tensor of shape {self.shape} does not require grad and has no grad_fn{why}"
            )
        tape.replay([(self, self._upstream(grad, "backward"))], retain_graph, create_graph, None, Tensor._wrap)

    def _upstream(self, grad: Any, who: str) -> Any:
        """The gradient fed to this tensor as an output: ones for one element, else ``grad`` checked and cast
        to this tensor's dtype (a Tensor stays a Tensor, so that it may itself be differentiable)."""
        xp = backend.xp_of(self._data)
        if grad is None:
            if self._data.size != 1:
                raise ValueError(
                    f"{who}: grad can be implicitly created only for a tensor with one element; "
                    f"got shape {self.shape}, pass grad= of that shape"
                )
            return xp.ones_like(self._data)
        if isinstance(grad, Tensor):
            if grad.shape != self.shape:
                raise ValueError(f"{who}: grad has shape {grad.shape} but the tensor has shape {self.shape}")
            if grad.requires_grad:
                return grad if grad.dtype == self.dtype else grad.to(self.dtype)
            grad = grad._data
        grad = xp.asarray(grad, dtype=self.dtype)
        if grad.shape != self.shape:
            raise ValueError(f"{who}: grad has shape {grad.shape} but the tensor has shape {self.shape}")
        return grad

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (sets ``.grad`` to None, as PyTorch does by default)."""
        self.grad = None

    def detach(self) -> Tensor:
        """The same data, cut from the graph (no grad_fn, no grad)."""
        return Tensor._wrap(self._data)

    # ----- conversion -------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The data as a NumPy array: shared on the CPU (as ``torch.Tensor.numpy``), copied from a GPU."""
        return backend.to_numpy(self.data)

    def item(self) -> float | int | bool:
        """The single element as a Python number."""
        if self._data.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted; got shape {self.shape}")
        return self._data.item()

    def tolist(self) -> Any:
        return backend.to_numpy(self._data).tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        a = self.numpy()
        if dtype is not None and a.dtype != dtype:
            return a.astype(dtype)  # a new array already
        return a.copy() if copy else a

    def __repr__(self) -> str:
        body = np.array2string(backend.to_numpy(self._data), separator=", ", prefix="Tensor(", threshold=50)
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

    __hash__ = object.__hash__


def from_numpy(array: Any) -> Tensor:
    """A tensor that shares ``array``'s memory (``torch.from_numpy``); ``Tensor(array)`` copies."""
    return Tensor.from_numpy(array)
