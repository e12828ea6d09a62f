"""``Function``: the public way to add an op, in the shape of ``torch.autograd.Function``::

    class Cube(Function):
        @staticmethod
        def forward(ctx, x):                  # Tensors in (not recorded), a Tensor or an array out
            ctx.save_for_backward(x)
            return x.data ** 3

        @staticmethod
        def backward(ctx, g):                 # one gradient (Tensor) per output in, one per input out
            (x,) = ctx.saved_tensors
            return g * 3 * x ** 2             # a Tensor, an array, or None (no gradient for that input)

    y = Cube.apply(x)

The replay holds a ``Function`` to the same contract as the built-in ops: each gradient must have its
input's shape (or one that sums to it over broadcast axes, as in PyTorch), it is cast to the input's
dtype, it must be on the input's device, and ``saved_tensors`` raises if a saved tensor was changed
after the forward. An optional static ``jvp(ctx, *tangents)`` is the forward-mode rule. ``backward`` runs
with recording off at first order; when the backward is itself differentiated (``create_graph``) it is
recorded, so what it computes with Tensor ops is differentiable again. Differences from PyTorch:
``forward`` returns a single output, and ``backward``/``jvp`` may return plain arrays as well as Tensors.
"""

from __future__ import annotations

from typing import Any

from .ops.base import result
from .tape import no_grad
from .tensor import Tensor


class FunctionCtx:
    """What ``forward`` leaves for ``backward``: ``save_for_backward`` / ``saved_tensors``,
    ``needs_input_grad`` (one bool per argument of ``apply``), and any attribute you set."""

    needs_input_grad: tuple[bool, ...] = ()
    _saved: tuple[tuple[Tensor, Any], ...] = ()
    _op = "Function"

    def save_for_backward(self, *tensors: Tensor | None) -> None:
        """Keep tensors (inputs or the output) for ``backward``; they are checked for changes there."""
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"{self._op}.save_for_backward: expected Tensors or None, got {type(t).__name__}")
        self._saved = tuple((t, None if t is None else t._data) for t in tensors)

    @property
    def saved_tensors(self) -> tuple[Tensor | None, ...]:
        for k, (t, array) in enumerate(self._saved):
            if t is not None and t._data is not array:
                raise RuntimeError(
                    f"{self._op}: saved tensor {k} (shape {t.shape}) was rebound (tensor.data = ...) after the "
                    f"forward; one of the variables needed for gradient computation has been modified"
                )
        return tuple(t for t, _ in self._saved)


class Function:
    """Subclass with static ``forward(ctx, *args)`` and ``backward(ctx, *grads)``; call ``MyOp.apply(*args)``."""

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any) -> Any:
        raise NotImplementedError("a Function subclass must define a static forward(ctx, *args)")

    @staticmethod
    def backward(ctx: FunctionCtx, *grads: Any) -> Any:
        raise NotImplementedError("a Function subclass must define a static backward(ctx, *grads)")

    @staticmethod
    def jvp(ctx: FunctionCtx, *tangents: Any) -> Any:
        """Optional forward-mode rule: the output's tangent from one tangent (a Tensor, or None) per
        argument of ``apply``. Without it, ``jvp``/``jacfwd`` through the op raise an error naming it."""
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any) -> Tensor:
        """Run ``forward`` without recording, then record one node whose backward calls ``backward``."""
        op = cls.__name__
        ctx = FunctionCtx()
        ctx._op = op
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        with no_grad():
            out = cls.forward(ctx, *args)
        if isinstance(out, Tensor):
            data = out._data
        elif hasattr(out, "shape") and hasattr(out, "dtype"):
            data = out
        else:
            raise TypeError(f"{op}.forward must return one Tensor or array, got {type(out).__name__}")
        positions = [k for k, a in enumerate(args) if isinstance(a, Tensor)]

        def vjp(g: Any, out: Any, *inputs: Any) -> tuple[Any, ...]:
            if isinstance(g, Tensor):  # create_graph: the user's backward is recorded like any expression
                grads = cls.backward(ctx, g)
            else:
                with no_grad():
                    grads = cls.backward(ctx, Tensor._wrap(g))
            grads = grads if isinstance(grads, tuple) else (grads,)
            if len(grads) != len(args):
                raise RuntimeError(
                    f"{op}.backward returned {len(grads)} gradient(s); expected {len(args)}, one per argument "
                    f"of apply (None for an argument without a gradient)"
                )
            return tuple(_keep(op, k, grads[k], isinstance(g, Tensor)) for k in positions)

        def jvp(tangents: tuple[Any, ...], out: Any, *inputs: Any) -> Any:
            given = iter(tangents)
            full = [_as_tensor(next(given)) if k in positions else None for k in range(len(args))]
            return _keep(op, 0, cls.jvp(ctx, *full), isinstance(out, Tensor))

        has_jvp = cls.jvp is not Function.jvp  # without one, forward mode names the op (dual.push)
        return result(op, data, tuple(args[k] for k in positions), vjp, jvp if has_jvp else None)


def _as_tensor(t: Any) -> Tensor | None:
    return t if t is None or isinstance(t, Tensor) else Tensor._wrap(t)


def _keep(op: str, k: int, g: Any, as_tensor: bool) -> Any:
    """A gradient or tangent the user returned, as the replay wants it: a Tensor when recording, else an array."""
    if g is None:
        return None
    if isinstance(g, Tensor):
        return g if as_tensor else g._data
    if hasattr(g, "shape") and hasattr(g, "dtype"):
        return Tensor._wrap(g) if as_tensor else g
    raise TypeError(f"{op}.backward returned a {type(g).__name__} for input {k}; expected a Tensor, an array or None")
