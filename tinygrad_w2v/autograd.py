"""``grad``: gradients of outputs with respect to chosen inputs (``torch.autograd.grad``), to any order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .tape import replay
from .tensor import Tensor


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple[Tensor | None, ...]:
    """The gradients of ``outputs`` with respect to ``inputs``, without touching any ``.grad``.

    ``outputs`` and ``inputs`` are tensors or sequences of them; an input may be a leaf or an
    intermediate result. ``grad_outputs`` is the upstream gradient of each output (None: ones, allowed
    for one-element outputs only). With ``create_graph=True`` the returned gradients are recorded, so
    they can be differentiated again, to any order; ``retain_graph`` defaults to ``create_graph``.
    Returns a tuple with one Tensor per input; an input the outputs do not depend on is an error naming
    it, unless ``allow_unused=True`` (then its entry is None).
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor) or hasattr(grad_outputs, "shape"):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad: {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    for k, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"grad: input {k} does not require grad (shape {getattr(t, 'shape', None)})")
    roots = []
    for k, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if not isinstance(out, Tensor) or not out.requires_grad:
            raise RuntimeError(f"grad: output {k} does not require grad and has no grad_fn")
        roots.append((out, out._upstream(g, "grad")))
    found = replay(roots, retain_graph, create_graph, inputs, Tensor._wrap)
    result: list[Tensor | None] = []
    for k, (t, g) in enumerate(zip(inputs, found)):
        if g is None and not allow_unused:
            name = f" '{t.name}'" if t.name else ""
            raise RuntimeError(
                f"grad: input {k}{name} (shape {t.shape}) was not used to compute the outputs; "
                "pass allow_unused=True to get None for it"
            )
        result.append(g if g is None or isinstance(g, Tensor) else Tensor._wrap(_dense(g)))
    return tuple(result)


def _dense(g: Any) -> Any:
    return g.to_dense() if hasattr(g, "to_dense") else g

