"""Parameters and small modules: ``Embedding``, ``Linear``, ``RNNCell``, ``LSTMCell``, ``Dropout``.

Names and shapes follow PyTorch: ``Linear.weight`` is ``(out_features, in_features)`` and computes
``x @ weight.T + bias``; the cells take ``x (batch, input_size)`` and return the next state.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from . import backend
from .ops import gather
from .tensor import Tensor


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
        return gather(self.weight, ids, axis=0)


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


class RNNCell(Module):
    """Elman cell: ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)``; x ``(B, input_size)``, h ``(B, hidden_size)``."""

    def __init__(self, input_size: int, hidden_size: int, rng: Any = None):
        rng = _rng(rng)
        bound = 1 / np.sqrt(hidden_size)
        self.hidden_size = hidden_size
        self.weight_ih = Parameter(uniform((hidden_size, input_size), bound, rng))
        self.weight_hh = Parameter(uniform((hidden_size, hidden_size), bound, rng))
        self.bias = Parameter(np.zeros(hidden_size, dtype=np.float32))

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        return (x @ self.weight_ih.T + h @ self.weight_hh.T + self.bias).tanh()


class LSTMCell(Module):
    """LSTM cell (gate order i, f, g, o as in PyTorch)::

        i, f, g, o = split(x W_ih^T + h W_hh^T + b)       each (B, hidden_size)
        c' = sigmoid(f) * c + sigmoid(i) * tanh(g)
        h' = sigmoid(o) * tanh(c')
    """

    def __init__(self, input_size: int, hidden_size: int, rng: Any = None):
        rng = _rng(rng)
        bound = 1 / np.sqrt(hidden_size)
        self.hidden_size = hidden_size
        self.weight_ih = Parameter(uniform((4 * hidden_size, input_size), bound, rng))
        self.weight_hh = Parameter(uniform((4 * hidden_size, hidden_size), bound, rng))
        self.bias = Parameter(np.zeros(4 * hidden_size, dtype=np.float32))

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        h, c = state
        gates = x @ self.weight_ih.T + h @ self.weight_hh.T + self.bias
        n = self.hidden_size
        i, f, g, o = (gates[:, k * n : (k + 1) * n] for k in range(4))
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        return o.sigmoid() * c.tanh(), c


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
