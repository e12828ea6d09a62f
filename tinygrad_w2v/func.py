"""Transforms over functions of tensors, with ``torch.func``'s names and conventions: ``grad``,
``grad_and_value``, ``vjp``, ``jvp``, ``jacrev``, ``jacfwd``, ``hessian``. They compose, to any depth::

    func.grad(lambda x: func.grad(f)(x).sum())(x)      # reverse over reverse
    func.jacfwd(func.jacrev(f))(x)                      # forward over reverse (= func.hessian(f))

Reverse mode records a tape and replays it (``autograd.grad``); inside another transform the replay is
itself recorded (``create_graph``), so the result can be differentiated again. Forward mode (``jvp``,
``jacfwd``) carries a tangent beside each value through one forward pass (``dual.py``), with no tape
for the primal computation. A Jacobian has the layout ``out.shape + in.shape``.

Arguments are Tensors or arrays; ``argnums`` picks the ones to differentiate (an int, or a tuple: then
the result is a tuple). Functions take and return Tensors (one output; ``has_aux=True``: a pair
``(output, aux)``). Differences from ``torch.func``: no pytrees, no ``vmap`` (``jacrev`` and ``jacfwd``
loop over the rows or columns).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from . import autograd, backend
from .dual import dual_level, set_tangent, tangent
from .ops import identity, reshape, stack
from .ops.base import zeros
from .tape import _state
from .tensor import Tensor

Argnums = int | tuple[int, ...]


def _tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _on_graph(x: Tensor) -> bool:
    """Whether ``x`` belongs to an enclosing transform (recorded, or carrying a tangent of an open level)."""
    return x.requires_grad or (x._tangents is not None and any(lv in x._tangents for lv in _state.levels))


def _fresh(x: Any) -> Tensor:
    """A tensor to differentiate with respect to: ``x`` itself stays untouched; inside another transform
    the new tensor is ``identity(x)``, so that derivatives still flow through it."""
    x = _tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"func: can only differentiate with respect to floating tensors, got dtype {x.dtype}")
    return identity(x) if _on_graph(x) else Tensor._wrap(x._data)


def _argnums(argnums: Argnums, n: int, who: str) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for k in nums:
        if not -n <= k < n:
            raise ValueError(f"{who}: argnums {argnums} out of range for a function called with {n} arguments")
    return tuple(k % n for k in nums)


def _split_aux(out: Any, has_aux: bool, who: str) -> tuple[Tensor, Any]:
    if has_aux:
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(f"{who}: with has_aux=True the function must return a pair (output, aux)")
        out, aux = out
    else:
        aux = None
    if not isinstance(out, Tensor):
        raise TypeError(f"{who}: the function must return a Tensor, got {type(out).__name__}")
    return out, aux


def _zeros_like(x: Tensor) -> Tensor:
    return zeros(x.shape, x)


def vjp(f: Callable[..., Any], *primals: Any, has_aux: bool = False) -> tuple[Any, ...]:
    """``(f(*primals), vjp_fn)``: ``vjp_fn(cotangent)`` returns one vector-Jacobian product per primal
    (``cotangent`` has the output's shape). With ``has_aux``: ``(output, vjp_fn, aux)``."""
    xs = [_fresh(p) for p in primals]
    for x in xs:
        x.requires_grad = True
    out, aux = _split_aux(f(*xs), has_aux, "vjp")
    nested = any(_on_graph(_tensor(p)) for p in primals) or bool(_state.levels)

    def vjp_fn(cotangent: Any) -> tuple[Tensor, ...]:
        if not out.requires_grad:  # the output does not depend on the primals
            return tuple(_zeros_like(x) for x in xs)
        grads = autograd.grad(out, xs, _tensor(cotangent), retain_graph=True, create_graph=nested, allow_unused=True)
        return tuple(_zeros_like(x) if g is None else g for g, x in zip(grads, xs))

    value = out if nested else out.detach()
    return (value, vjp_fn, aux) if has_aux else (value, vjp_fn)


def grad_and_value(f: Callable[..., Any], argnums: Argnums = 0, has_aux: bool = False) -> Callable[..., Any]:
    """A function returning ``(gradient, value)`` of the scalar function ``f`` with respect to the
    arguments ``argnums`` (with ``has_aux``: ``(gradient, (value, aux))``)."""

    def wrapper(*args: Any) -> Any:
        nums = _argnums(argnums, len(args), "grad")
        args = list(args)
        nested = any(_on_graph(_tensor(args[k])) for k in nums) or bool(_state.levels)
        for k in nums:
            args[k] = _fresh(args[k])
            args[k].requires_grad = True
        out, aux = _split_aux(f(*args), has_aux, "grad")
        if out.size != 1:
            raise ValueError(f"grad: the function must return one element, got shape {out.shape}; use jacrev")
        wrt = [args[k] for k in nums]
        if out.requires_grad:
            grads = autograd.grad(out, wrt, create_graph=nested, allow_unused=True)
        else:
            grads = (None,) * len(wrt)
        grads = tuple(_zeros_like(x) if g is None else g for g, x in zip(grads, wrt))
        value = out if nested else out.detach()
        g = grads[0] if isinstance(argnums, int) else grads
        return (g, (value, aux)) if has_aux else (g, value)

    return wrapper


def grad(f: Callable[..., Any], argnums: Argnums = 0, has_aux: bool = False) -> Callable[..., Any]:
    """The gradient of the scalar function ``f`` with respect to the arguments ``argnums``, as a function
    (with ``has_aux``: ``(gradient, aux)``)."""
    both = grad_and_value(f, argnums, has_aux)

    def wrapper(*args: Any) -> Any:
        g, value = both(*args)
        return (g, value[1]) if has_aux else g

    return wrapper


def jvp(
    f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any], has_aux: bool = False
) -> tuple[Any, ...]:
    """``(f(*primals), J v)``: the output and its tangent for the input tangents ``v``, in one forward pass
    that carries each tangent beside its value (forward mode; no tape for the primal computation)."""
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    with dual_level() as level:
        xs = []
        for k, (p, t) in enumerate(zip(primals, tangents)):
            x = _fresh(p)
            t = _tensor(t)
            if t.shape != x.shape:
                raise ValueError(f"jvp: tangent {k} has shape {t.shape} but its primal has shape {x.shape}")
            set_tangent(x, level, t if t.dtype == x.dtype else t.to(x.dtype))
            xs.append(x)
        out, aux = _split_aux(f(*xs), has_aux, "jvp")
        t_out = tangent(out, level)
        if out._tangents is not None:
            out._tangents.pop(level, None)
    t_out = _zeros_like(out) if t_out is None else t_out
    return (out, t_out, aux) if has_aux else (out, t_out)


def partial_over(f: Callable[..., Any], args: Sequence[Any], nums: Sequence[int]) -> Callable[..., Any]:
    """``f`` as a function of the arguments at positions ``nums`` only, the others fixed to ``args``."""

    def partial(*xs: Any) -> Any:
        full = list(args)
        for k, x in zip(nums, xs):
            full[k] = x
        return f(*full)

    return partial


def _basis(x: Tensor, j: int) -> Tensor:
    """The j-th standard basis tensor of ``x``'s shape and dtype."""
    e = backend.xp_of(x._data).zeros(x.size, dtype=x.dtype)
    e[j] = 1
    return Tensor._wrap(e.reshape(x.shape))


def jacrev(f: Callable[..., Any], argnums: Argnums = 0) -> Callable[..., Any]:
    """The Jacobian of ``f`` by reverse mode: one forward pass, then one vector-Jacobian product per output
    element (cheap for few outputs, many inputs). Layout ``out.shape + in.shape``."""

    def wrapper(*args: Any) -> Any:
        nums = _argnums(argnums, len(args), "jacrev")
        primals = [_tensor(args[k]) for k in nums]
        out, vjp_fn = vjp(partial_over(f, args, nums), *primals)
        rows = [vjp_fn(_basis(out, i)) for i in range(out.size)]
        jacs = tuple(
            reshape(stack([row[n] for row in rows]), out.shape + x.shape) if rows else _empty(out, x)
            for n, x in enumerate(primals)
        )
        return jacs[0] if isinstance(argnums, int) else jacs

    return wrapper


def jacfwd(f: Callable[..., Any], argnums: Argnums = 0) -> Callable[..., Any]:
    """The Jacobian of ``f`` by forward mode: one ``jvp`` per input element (cheap for few inputs, many
    outputs). Layout ``out.shape + in.shape``."""

    def wrapper(*args: Any) -> Any:
        nums = _argnums(argnums, len(args), "jacfwd")
        primals = [_tensor(args[k]) for k in nums]
        partial = partial_over(f, args, nums)

        jacs = []
        for n, x in enumerate(primals):
            cols = []
            out = None
            for j in range(x.size):
                tangents = [_basis(p, j) if m == n else _zeros_like(p) for m, p in enumerate(primals)]
                out, col = jvp(partial, primals, tangents)
                cols.append(col)
            if out is None:
                out = partial(*primals)
                jacs.append(_empty(out, x))
            else:
                jacs.append(reshape(stack(cols, axis=-1), out.shape + x.shape))
        return jacs[0] if isinstance(argnums, int) else tuple(jacs)

    return wrapper


def _empty(out: Tensor, x: Tensor) -> Tensor:
    return zeros(out.shape + x.shape, x)


def hessian(f: Callable[..., Any], argnums: Argnums = 0) -> Callable[..., Any]:
    """The Hessian of the scalar function ``f``: ``jacfwd(jacrev(f))`` (forward over reverse), with layout
    ``in.shape + in.shape``."""
    return jacfwd(jacrev(f, argnums), argnums)
