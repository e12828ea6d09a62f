"""Optimizers (``SGD``, ``Adam``), global-norm gradient clipping and learning-rate schedules.

A parameter whose ``.grad`` is a ``RowSparse`` (an ``Embedding(sparse=True)`` weight) is updated only
at the rows it holds: SGD subtracts ``lr * g`` from those rows; Adam is lazy there, updating the
moments of those rows only (PyTorch's ``SparseAdam``), so a step costs O(rows x dim).

``state_dict()`` returns copies and ``load_state_dict`` copies in, so a saved state never changes when
training goes on, and two optimizers loaded from one state do not share buffers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from . import backend
from .sparse import RowSparse
from .tensor import Tensor


class Optimizer:
    """Holds the parameters and the learning rate; ``step`` updates every parameter that has a grad."""

    def __init__(self, params: Iterable[Tensor], lr: float):
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not lr >= 0:
            raise ValueError(f"{type(self).__name__}: invalid learning rate {lr} (must be >= 0)")
        self.lr = lr

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            if isinstance(p.grad, RowSparse):
                p.grad = p.grad.coalesce()
                self._sparse_update(i, p, p.grad)
            else:
                self._dense_update(i, p, p.grad)

    def _dense_update(self, i: int, p: Tensor, g: Any) -> None:
        raise NotImplementedError

    def _sparse_update(self, i: int, p: Tensor, g: RowSparse) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {"lr": self.lr}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.lr = float(state["lr"])


class SGD(Optimizer):
    """``p -= lr * g``, with optional momentum (dense gradients only), as ``torch.optim.SGD``:
    ``v = g`` on the first step, then ``v = momentum * v + g``, and ``p -= lr * v``."""

    def __init__(self, params: Iterable[Tensor], lr: float, momentum: float = 0.0):
        super().__init__(params, lr)
        if not momentum >= 0:
            raise ValueError(f"SGD: invalid momentum {momentum} (must be >= 0)")
        self.momentum = momentum
        self.velocity: dict[int, Any] = {}

    def _dense_update(self, i: int, p: Tensor, g: Any) -> None:
        if self.momentum:
            v = self.velocity.get(i)
            v = g.copy() if v is None else self.momentum * v + g
            self.velocity[i] = v
            g = v
        p.data -= self.lr * g

    def _sparse_update(self, i: int, p: Tensor, g: RowSparse) -> None:
        if self.momentum:
            raise ValueError("SGD: momentum is not supported with sparse (RowSparse) gradients")
        p.data[g.indices] -= self.lr * g.values

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        for i, v in self.velocity.items():
            state[f"velocity.{i}"] = backend.to_numpy(v).copy()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.velocity = {}
        for i, p in enumerate(self.params):
            if f"velocity.{i}" in state:
                self.velocity[i] = backend.to_device(state[f"velocity.{i}"], p.device).astype(p.dtype, copy=True)


class Adam(Optimizer):
    """Adam (Kingma & Ba): ``m = b1 m + (1-b1) g``, ``v = b2 v + (1-b2) g^2``, and on dense gradients
    ``p -= lr * m_hat / (sqrt(v_hat) + eps)`` with bias-corrected ``m_hat = m / (1 - b1^t)`` and
    ``v_hat = v / (1 - b2^t)`` (``torch.optim.Adam``). On ``RowSparse`` rows it is lazy, as
    ``torch.optim.SparseAdam``: only those rows' moments and values change, by
    ``p -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)`` (eps outside the bias correction).
    ``t`` counts the calls to ``step`` (PyTorch counts per parameter: the same whenever every parameter
    has a gradient at every step, as in this project's trainers)."""

    def __init__(
        self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
    ):
        super().__init__(params, lr)
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"Adam: invalid betas {betas} (each must be in [0, 1))")
        if not eps >= 0:
            raise ValueError(f"Adam: invalid eps {eps} (must be >= 0)")
        self.betas = betas
        self.eps = eps
        self.t = 0
        self.m = [backend.xp_of(p.data).zeros_like(p.data) for p in self.params]
        self.v = [backend.xp_of(p.data).zeros_like(p.data) for p in self.params]

    def step(self) -> None:
        self.t += 1
        super().step()

    def _step_size(self) -> float:
        b1, b2 = self.betas
        return self.lr * math.sqrt(1 - b2**self.t) / (1 - b1**self.t)

    def _dense_update(self, i: int, p: Tensor, g: Any) -> None:
        b1, b2 = self.betas
        m, v = self.m[i], self.v[i]
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        # torch.optim.Adam: eps is added to sqrt(v_hat), after the bias correction
        denom = backend.xp_of(v).sqrt(v) / math.sqrt(1 - b2**self.t) + self.eps
        p.data -= (self.lr / (1 - b1**self.t)) * m / denom

    def _sparse_update(self, i: int, p: Tensor, g: RowSparse) -> None:
        b1, b2 = self.betas
        rows, gv = g.indices, g.values
        m = self.m[i][rows] * b1 + (1 - b1) * gv
        v = self.v[i][rows] * b2 + (1 - b2) * gv * gv
        self.m[i][rows] = m
        self.v[i][rows] = v
        p.data[rows] -= self._step_size() * m / (backend.xp_of(v).sqrt(v) + self.eps)

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"lr": self.lr, "t": self.t}
        for i in range(len(self.params)):
            state[f"m.{i}"] = backend.to_numpy(self.m[i]).copy()  # the moments change in place
            state[f"v.{i}"] = backend.to_numpy(self.v[i]).copy()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.t = int(state["t"])
        for i, p in enumerate(self.params):
            self.m[i] = backend.to_device(state[f"m.{i}"], p.device).astype(p.dtype, copy=True)
            self.v[i] = backend.to_device(state[f"v.{i}"], p.device).astype(p.dtype, copy=True)


def clip_grad_norm(params: Iterable[Tensor], max_norm: float) -> float:
    """Scale all gradients by ``max_norm / (norm + 1e-6)`` when their global L2 norm exceeds ``max_norm``
    (as the book's ``clip_grads`` and PyTorch's ``clip_grad_norm_``); returns the norm before clipping.
    Row-sparse gradients are coalesced first, since duplicated rows add before they are squared."""
    params = [p for p in params if p.grad is not None]
    total = 0.0
    for p in params:
        if isinstance(p.grad, RowSparse):
            p.grad = p.grad.coalesce()
            total += float((p.grad.values**2).sum())
        else:
            total += float((p.grad**2).sum())
    norm = math.sqrt(total)
    scale = max_norm / (norm + 1e-6)
    if scale < 1:
        for p in params:
            p.grad = p.grad * scale
    return norm


class LinearLR:
    """word2vec's schedule: ``lr = lr0 * max(1 - step / total_steps, min_factor)`` after each ``step()``."""

    def __init__(self, optimizer: Optimizer, total_steps: int, min_factor: float = 1e-4):
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.total_steps = max(1, total_steps)
        self.min_factor = min_factor
        self.steps = 0

    def step(self) -> None:
        self.steps += 1
        self.optimizer.lr = self.base_lr * max(1 - self.steps / self.total_steps, self.min_factor)


class ReduceLROnPlateau:
    """Multiply the learning rate by ``factor`` whenever the metric (e.g. validation perplexity) does not
    improve on the best so far: the book's ``lr /= 4.0`` rule with the default ``factor=0.25``."""

    def __init__(self, optimizer: Optimizer, factor: float = 0.25):
        self.optimizer = optimizer
        self.factor = factor
        self.best = math.inf

    def step(self, metric: float) -> None:
        if metric < self.best:
            self.best = metric
        else:
            self.optimizer.lr *= self.factor
