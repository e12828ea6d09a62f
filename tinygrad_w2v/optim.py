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

    def _buffer(self, state: dict[str, Any], key: str, p: Tensor) -> Any:
        """A copy of ``state[key]`` on ``p``'s device, checked to have ``p``'s shape."""
        value = state[key]
        if value.shape != p.shape:
            raise ValueError(f"{type(self).__name__}.load_state_dict: '{key}' has shape {value.shape}, its "
                             f"parameter {p.shape}")
        return backend.to_device(value, p.device).astype(p.dtype, copy=True)


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
                self.velocity[i] = self._buffer(state, f"velocity.{i}", p)


class Adam(Optimizer):
    """Adam (Kingma & Ba): ``m = b1 m + (1-b1) g``, ``v = b2 v + (1-b2) g^2``, and on dense gradients
    ``p -= lr * m_hat / (sqrt(v_hat) + eps)`` with bias-corrected ``m_hat = m / (1 - b1^t)`` and
    ``v_hat = v / (1 - b2^t)`` (``torch.optim.Adam``). On ``RowSparse`` rows it is lazy, as
    ``torch.optim.SparseAdam``: only those rows' moments and values change, by
    ``p -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)`` (eps outside the bias correction).
    ``t`` counts the calls to ``step`` (PyTorch counts per parameter: the same whenever every parameter
    has a gradient at every step, as in this project's trainers). ``weight_decay`` is PyTorch's L2 penalty:
    ``g + weight_decay * p`` replaces ``g`` before the moments (dense gradients only; ``AdamW``'s decoupled
    decay is a different rule)."""

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ):
        super().__init__(params, lr)
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"Adam: invalid betas {betas} (each must be in [0, 1))")
        if not eps >= 0:
            raise ValueError(f"Adam: invalid eps {eps} (must be >= 0)")
        if not weight_decay >= 0:
            raise ValueError(f"Adam: invalid weight_decay {weight_decay} (must be >= 0)")
        self.betas = betas
        self.eps = eps
        self.weight_decay = weight_decay
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
        if self.weight_decay:
            g = g + self.weight_decay * p.data
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        # torch.optim.Adam: eps is added to sqrt(v_hat), after the bias correction
        denom = backend.xp_of(v).sqrt(v) / math.sqrt(1 - b2**self.t) + self.eps
        p.data -= (self.lr / (1 - b1**self.t)) * m / denom

    def _sparse_update(self, i: int, p: Tensor, g: RowSparse) -> None:
        if self.weight_decay:
            raise ValueError("Adam: weight_decay is not supported with sparse (RowSparse) gradients")
        b1, b2 = self.betas
        rows, gv = g.indices, g.values
        xp = backend.xp_of(gv)
        m = self.m[i][rows]  # the touched rows (copies), updated in place: no other temporaries
        m *= b1
        m += (1 - b1) * gv
        v = self.v[i][rows]
        v *= b2
        step = gv * gv
        step *= 1 - b2
        v += step
        self.m[i][rows] = m
        self.v[i][rows] = v
        xp.sqrt(v, out=step)  # step = -lr_t * m / (sqrt(v) + eps)
        step += self.eps
        xp.divide(m, step, out=step)
        step *= -self._step_size()
        data = p.data
        data[rows] += step

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
            self.m[i] = self._buffer(state, f"m.{i}", p)
            self.v[i] = self._buffer(state, f"v.{i}", p)


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


class LRScheduler:
    """What the schedules share (``torch.optim.lr_scheduler.LRScheduler``): the optimizer whose ``lr`` they
    set, the last rate, and a state dict of everything but the optimizer."""

    optimizer: Optimizer

    def get_last_lr(self) -> list[float]:
        return [self.optimizer.lr]

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        vars(self).update(state)


class LinearLR(LRScheduler):
    """``torch.optim.lr_scheduler.LinearLR``: the learning rate is ``base_lr`` times a factor that goes
    linearly from ``start_factor`` to ``end_factor`` over ``total_iters`` calls of ``step()`` and then
    stays there::

        lr = base_lr * (start_factor + (end_factor - start_factor) * min(last_epoch, total_iters) / total_iters)

    ``last_epoch`` counts the ``step()`` calls (PyTorch's name; the trainers step once per batch). word2vec's
    decay to ``1e-4`` of the start is ``LinearLR(opt, 1.0, 1e-4, total_steps)``. Computed in closed form,
    which equals PyTorch's chained updates up to rounding."""

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5):
        if not 0 < start_factor <= 1:
            raise ValueError(f"LinearLR: start_factor must be in (0, 1], got {start_factor}")
        if not 0 <= end_factor <= 1:
            raise ValueError(f"LinearLR: end_factor must be in [0, 1], got {end_factor}")
        if total_iters < 1:
            raise ValueError(f"LinearLR: total_iters must be at least 1, got {total_iters}")
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        self.last_epoch = 0
        optimizer.lr = self.base_lr * start_factor

    def step(self) -> None:
        self.last_epoch += 1
        progress = min(self.last_epoch, self.total_iters) / self.total_iters
        self.optimizer.lr = self.base_lr * (self.start_factor + (self.end_factor - self.start_factor) * progress)


class ReduceLROnPlateau(LRScheduler):
    """``torch.optim.lr_scheduler.ReduceLROnPlateau``: ``step(metric)`` after each epoch; when the metric
    has not improved on the best so far for more than ``patience`` epochs, ``lr = max(lr * factor,
    min_lr)`` (changes under ``eps`` are skipped), then ``cooldown`` epochs pass before counting again.
    "Improved" in ``mode='min'`` is ``metric < best * (1 - threshold)`` (``threshold_mode='rel'``) or
    ``metric < best - threshold`` (``'abs'``); ``'max'`` mirrors it. The book's ``lr /= 4.0`` whenever the
    validation perplexity does not improve is ``ReduceLROnPlateau(opt, factor=0.25, patience=0,
    threshold=0)``."""

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0, min_lr: float = 0.0,
                 eps: float = 1e-8):
        if not factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be < 1.0, got {factor}")
        if mode not in ("min", "max") or threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max' and threshold_mode 'rel' or 'abs', "
                             f"got {mode!r} and {threshold_mode!r}")
        self.optimizer = optimizer
        self.mode, self.factor, self.patience, self.threshold = mode, factor, patience, threshold
        self.threshold_mode, self.cooldown, self.min_lr, self.eps = threshold_mode, cooldown, min_lr, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = self.cooldown_counter = self.last_epoch = 0

    def _is_better(self, metric: float) -> bool:
        sign = 1.0 if self.mode == "min" else -1.0
        if self.threshold_mode == "rel":
            return sign * metric < sign * self.best * (1 - sign * self.threshold)
        return sign * metric < sign * self.best - self.threshold

    def step(self, metric: float) -> None:
        metric = float(metric)
        self.last_epoch += 1
        if self._is_better(metric):
            self.best, self.num_bad_epochs = metric, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in the cooldown do not count
        if self.num_bad_epochs > self.patience:
            new_lr = max(self.optimizer.lr * self.factor, self.min_lr)
            if self.optimizer.lr - new_lr > self.eps:
                self.optimizer.lr = new_lr
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
