"""Forward mode: a tangent carried beside each value, pushed through every op by its JVP rule.

Inside ``func.jvp`` a *level* is active: each input gets a tangent for that level, and every op whose
inputs carry tangents of an active level computes its output's tangent with the op's JVP rule, in the
same forward pass (no tape is recorded for it). Levels nest: ``jvp`` inside ``jvp`` opens a second
level, and a tangent for the inner level is computed with only the outer levels active, so that its
own ops carry outer tangents (second derivatives) without mixing the two perturbations up. Each level
has a fresh number, so a tensor left over from an earlier ``jvp`` is never mistaken for part of this one.

The rule runs on plain arrays when one level is active and nothing needs recording (the fast path of
a plain ``jvp``), and on Tensors otherwise: nested levels, or reverse mode over forward mode.

This module knows no op; ``ops.base.result`` calls ``push`` for every op while a level is active.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .tape import _state

if TYPE_CHECKING:
    from .tensor import Tensor

_level_ids = itertools.count(1)


@contextmanager
def dual_level() -> Iterator[int]:
    """Open a forward-mode level for this thread; yields its number (``torch.autograd.forward_ad``)."""
    level = next(_level_ids)
    before = _state.levels
    _state.levels = (*before, level)
    try:
        yield level
    finally:
        _state.levels = before


def tangent(t: Tensor, level: int) -> Tensor | None:
    """``t``'s tangent at ``level``, or None."""
    return None if t._tangents is None else t._tangents.get(level)


def set_tangent(t: Tensor, level: int, value: Tensor | None) -> None:
    if value is None:
        return
    if t._tangents is None:
        t._tangents = {}
    t._tangents[level] = value


def _all_none(items: list[Any]) -> bool:
    for item in items:
        if item is not None:
            return False
    return True


def _no_rule(op: str) -> RuntimeError:
    return RuntimeError(
        f"op '{op}' has no forward-mode rule: it cannot be used inside jvp/jacfwd "
        "(a Function needs a static jvp(ctx, *tangents))"
    )


def push(
    op: str,
    out: Tensor,
    inputs: tuple[Tensor, ...],
    jvp: Callable | None,
    wrap: Callable[[Any], Tensor],
    broadcast: Callable[[Any, tuple[int, ...]], Any],
) -> None:
    """Give ``out`` a tangent at every active level at which some input has one, by the op's ``jvp`` rule:
    ``jvp(tangents, out, *inputs)`` with one tangent (or None) per input. A tangent that the rule left in a
    broadcastable shape (``t_a`` of ``a + b`` with ``a`` smaller) gets ``out``'s shape (``broadcast``)."""
    active = _state.levels
    if len(active) == 1:  # the fast path: the rule on plain arrays, unless something must be recorded
        level = active[0]
        if 0 < len(inputs) <= 2:  # (one or two inputs without a loop: this runs once per op)
            a = inputs[0]
            ta = None if a._tangents is None else a._tangents.get(level)
            if len(inputs) == 1:
                if ta is None:
                    return
                on_graph = a.requires_grad or ta.requires_grad
                tangents, values = (ta._data,), (a._data,)
            else:
                b = inputs[1]
                tb = None if b._tangents is None else b._tangents.get(level)
                if ta is None and tb is None:
                    return
                on_graph = (a.requires_grad or b.requires_grad or (ta is not None and ta.requires_grad)
                            or (tb is not None and tb.requires_grad))
                tangents = (None if ta is None else ta._data, None if tb is None else tb._data)
                values = (a._data, b._data)
        else:
            given = [None if t._tangents is None else t._tangents.get(level) for t in inputs]
            if _all_none(given):
                return
            on_graph = any(t.requires_grad or tg is not None and tg.requires_grad for t, tg in zip(inputs, given))
            tangents = tuple(None if tg is None else tg._data for tg in given)
            values = tuple(t._data for t in inputs)
        if not (on_graph and _state.grad_enabled):
            if jvp is None:
                raise _no_rule(op)
            array = jvp(tangents, out._data, *values)
            if array is not None:
                if array.shape != out._data.shape:
                    array = broadcast(array, out._data.shape)
                out._tangents = {level: wrap(array)}
            return
    for depth, level in enumerate(active):
        tangents = [None if t._tangents is None else t._tangents.get(level) for t in inputs]
        if _all_none(tangents):
            continue
        if jvp is None:
            raise _no_rule(op)
        _state.levels = active[:depth]  # the rule's own ops carry only the outer levels' tangents
        try:
            value = jvp(tangents, out, *inputs)
            if value is not None and value.shape != out._data.shape:
                value = broadcast(value, out._data.shape)
        finally:
            _state.levels = active
        if value is not None and not hasattr(value, "grad_fn"):
            value = wrap(value)
        set_tangent(out, level, value)
    if out.grad_fn is not None:  # a replay that records its rules (create_graph) finds them there
        out.grad_fn.tangents = out._tangents
