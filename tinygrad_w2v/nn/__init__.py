"""Parameters and small modules: ``Embedding``, ``Linear``, ``RNNCell``, ``LSTMCell``, ``Dropout``; the loss
functions are in ``tinygrad_w2v.nn.functional``.

Names and shapes follow PyTorch: ``Linear.weight`` is ``(out_features, in_features)`` and computes
``x @ weight.T + bias``; the cells take ``x (batch, input_size)`` and return the next state.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .. import backend
from ..ops import chunk, gather, gather_dot
from ..tensor import Tensor
from . import functional  # noqa: F401  (``nn.functional``, as in PyTorch)


class Parameter(Tensor):
    """A leaf tensor that requires grad and that ``Module.parameters()`` finds."""

    def __init__(self, data: Any, name: str | None = None):
        super().__init__(data, requires_grad=True, name=name)


def _rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def uniform(shape: tuple[int, ...], bound: float, rng: np.random.Generator, dtype: Any = np.float32) -> np.ndarray:
    """``U(-bound, bound)`` samples: PyTorch's default for ``Linear`` and the recurrent cells."""
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


class Module:
    """A container of parameters and submodules, found through its attributes in definition order."""

    training = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def extra_repr(self) -> str:
        """The module's own settings for ``repr`` (PyTorch's hook): e.g. ``'in_features=3, out_features=2'``."""
        return ""

    def __repr__(self) -> str:
        """PyTorch's layout: ``Name(settings)``, or one indented ``(attribute): child`` line per submodule."""
        lines = []
        for key, value in vars(self).items():
            if isinstance(value, Module):
                lines.append(f"({key}): {value!r}")
            elif isinstance(value, (list, tuple)) and value and all(isinstance(v, Module) for v in value):
                items = "".join(f"\n  ({i}): {_indent(repr(v))}" for i, v in enumerate(value))
                lines.append(f"({key}): ModuleList({items}\n)")
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        body = "".join(f"\n  {_indent(line)}" for line in ([extra] if extra else []) + lines)
        return f"{type(self).__name__}({body}\n)"

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, parameter)`` pairs; a parameter shared by two attributes comes once."""
        seen: set[int] = set()
        for name, p in self._walk(prefix):
            if id(p) not in seen:
                seen.add(id(p))
                yield name, p

    def _walk(self, prefix: str) -> Iterator[tuple[str, Parameter]]:
        for key, value in vars(self).items():
            items = enumerate(value) if isinstance(value, (list, tuple)) else [(None, value)]
            for i, item in items:
                name = f"{prefix}{key}" if i is None else f"{prefix}{key}.{i}"
                if isinstance(item, Parameter):
                    yield name, item
                elif isinstance(item, Module):
                    yield from item._walk(name + ".")

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def modules(self) -> Iterator[Module]:
        yield self
        for value in vars(self).values():
            for item in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(item, Module):
                    yield from item.modules()

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            m.training = mode
        return self

    def eval(self) -> Module:
        return self.train(False)

    def to(self, device: str) -> Module:
        """Move every parameter to ``device`` in place."""
        device = backend.check_device(device)
        for p in self.parameters():
            p.data = backend.to_device(p.data, device)
            p.grad = None
        return self

    def double(self) -> Module:
        """Cast every floating parameter to float64 in place (PyTorch's ``Module.double``)."""
        for p in self.parameters():
            if p.data.dtype.kind == "f":
                p.data = p.data.astype(np.float64)
        return self

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the parameter values as NumPy arrays, keyed by dotted name (save with ``files.save_npz``):
        a snapshot on every device (the optimizers update ``p.data`` in place)."""
        return {name: p.numpy().copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy values in by name; missing or unexpected names and shape mismatches are errors."""
        params = dict(self.named_parameters())
        if set(params) != set(state):
            missing, unexpected = sorted(set(params) - set(state)), sorted(set(state) - set(params))
            raise KeyError(f"load_state_dict: missing {missing}, unexpected {unexpected}")
        for name, p in params.items():
            value = np.asarray(state[name])
            if value.shape != p.shape:
                raise ValueError(f"load_state_dict: '{name}' has shape {value.shape}, the module expects {p.shape}")
            p.data = backend.to_device(value.astype(p.dtype), p.device)


def _indent(text: str) -> str:
    """Indent every line of ``text`` but the first by two spaces (a child's repr under its parent's line)."""
    return text.replace("\n", "\n  ")


class Embedding(Module):
    """A lookup table ``weight (num_embeddings, embedding_dim)``: ``forward(ids) = weight[ids]``,
    shape ``ids.shape + (embedding_dim,)``. With ``sparse=True`` the gradient is a ``RowSparse`` of
    the looked-up rows only (PyTorch's ``nn.Embedding(sparse=True)``)."""

    def __init__(
        self, num_embeddings: int, embedding_dim: int, sparse: bool = False, rng: Any = None, std: float = 1.0
    ):
        self.weight = Parameter(_rng(rng).standard_normal((num_embeddings, embedding_dim)).astype(np.float32) * std)
        self.weight.sparse_grad = sparse

    def forward(self, ids: Any) -> Tensor:
        """``weight[ids]``; every id must be in ``[0, num_embeddings)`` (a negative id is an error, not a row
        counted from the end)."""
        return gather(self.weight, self._ids(ids), axis=0)

    def dot(self, ids: Any, v: Tensor) -> Tensor:
        """``(self(ids) @ v[..., None])[..., 0]``, the dot product of each looked-up row with its batch
        entry's vector: ``ids (*S, K)``, ``v (*S, embedding_dim)`` -> ``(*S, K)``, through ``gather_dot``, whose
        backward never forms the ``(*S, K, embedding_dim)`` gradient of the rows."""
        return gather_dot(self.weight, self._ids(ids), v)

    def _ids(self, ids: Any) -> Any:
        """``ids`` as an array, checked to lie in ``[0, num_embeddings)``."""
        given = ids._data if isinstance(ids, Tensor) else ids
        given = given if hasattr(given, "dtype") else np.asarray(given)
        V = self.weight.shape[0]
        if given.size and given.dtype.kind in "iu" and (int(given.min()) < 0 or int(given.max()) >= V):
            bad = given[(given < 0) | (given >= V)].ravel()[0]
            raise IndexError(
                f"Embedding: index {int(bad)} is out of range for {V} embeddings (ids must be in [0, {V}), "
                f"got shape {given.shape})"
            )
        return given

    def extra_repr(self) -> str:
        V, D = self.weight.shape
        return f"{V}, {D}" + (", sparse=True" if self.weight.sparse_grad else "")


class Linear(Module):
    """``y = x @ weight.T + bias`` with ``weight (out_features, in_features)``, ``bias (out_features,)``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, rng: Any = None):
        rng = _rng(rng)
        bound = 1 / np.sqrt(in_features)
        self.weight = Parameter(uniform((out_features, in_features), bound, rng))
        self.bias = Parameter(uniform((out_features,), bound, rng)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        y = x @ self.weight.T
        return y + self.bias if self.bias is not None else y

    def extra_repr(self) -> str:
        out_features, in_features = self.weight.shape
        return f"in_features={in_features}, out_features={out_features}, bias={self.bias is not None}"


class RNNCell(Module):
    """Elman cell: ``h' = tanh(x W_ih^T + b + h W_hh^T)``; x ``(B, input_size)``, h ``(B, hidden_size)``.

    ``step`` is the same update from the input projection ``xw = x W_ih^T + b``, for sequence models that
    project all time steps at once."""

    def __init__(self, input_size: int, hidden_size: int, rng: Any = None):
        rng = _rng(rng)
        bound = 1 / np.sqrt(hidden_size)
        self.hidden_size = hidden_size
        self.weight_ih = Parameter(uniform((hidden_size, input_size), bound, rng))
        self.weight_hh = Parameter(uniform((hidden_size, hidden_size), bound, rng))
        self.bias = Parameter(np.zeros(hidden_size, dtype=np.float32))

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        return self.step(x @ self.weight_ih.T + self.bias, h)

    def step(self, xw: Tensor, h: Tensor, weight_hh_T: Tensor | None = None) -> Tensor:
        """``h' = tanh(xw + h W_hh^T)``, ``xw (B, hidden_size)``; ``weight_hh_T`` is ``weight_hh.T`` if the
        caller already has it (one transpose for all the steps of a sequence)."""
        W_hh_T = self.weight_hh.T if weight_hh_T is None else weight_hh_T
        return (xw + h @ W_hh_T).tanh()

    def extra_repr(self) -> str:
        return f"{self.weight_ih.shape[1]}, {self.hidden_size}"


class LSTMCell(Module):
    """LSTM cell (gate order i, f, g, o as in PyTorch)::

        i, f, g, o = chunk(x W_ih^T + b + h W_hh^T, 4)    each (B, hidden_size)
        c' = sigmoid(f) * c + sigmoid(i) * tanh(g)
        h' = sigmoid(o) * tanh(c')

    ``step`` is the same update from the input projection ``xw = x W_ih^T + b``, for sequence models that
    project all time steps at once.
    """

    def __init__(self, input_size: int, hidden_size: int, rng: Any = None):
        rng = _rng(rng)
        bound = 1 / np.sqrt(hidden_size)
        self.hidden_size = hidden_size
        self.weight_ih = Parameter(uniform((4 * hidden_size, input_size), bound, rng))
        self.weight_hh = Parameter(uniform((4 * hidden_size, hidden_size), bound, rng))
        self.bias = Parameter(np.zeros(4 * hidden_size, dtype=np.float32))

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        return self.step(x @ self.weight_ih.T + self.bias, state)

    def step(
        self, xw: Tensor, state: tuple[Tensor, Tensor], weight_hh_T: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """``(h', c')`` from ``xw (B, 4 hidden_size)`` and ``state = (h, c)``; ``weight_hh_T`` is
        ``weight_hh.T`` if the caller already has it (one transpose for all the steps of a sequence)."""
        h, c = state
        W_hh_T = self.weight_hh.T if weight_hh_T is None else weight_hh_T
        i, f, g, o = chunk(xw + h @ W_hh_T, 4, 1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        return o.sigmoid() * c.tanh(), c

    def extra_repr(self) -> str:
        return f"{self.weight_ih.shape[1]}, {self.hidden_size}"


class Dropout(Module):
    """Zero each element with probability ``p`` while training and scale the rest by ``1/(1-p)``."""

    def __init__(self, p: float = 0.5, rng: Any = None):
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = p
        self.rng = _rng(rng)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        keep = self.rng.random(x.shape) >= self.p
        mask = backend.to_device((keep / (1 - self.p)).astype(x.dtype), x.device)
        return x * mask

    def extra_repr(self) -> str:
        return f"p={self.p}"
