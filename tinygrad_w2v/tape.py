"""The tape: one ``Node`` per recorded op, the recording switch, and the reverse replay.

Every differentiable op that runs while recording is on, with at least one input that requires a
gradient, records a ``Node``: its name, its input tensors, its output's shape, and a ``backward``
closure that maps the gradient of the output to the gradients of the inputs (the vector-Jacobian
products). Nodes are numbered in execution order, so the recorded ops of any
computation read as a Wengert list, and ``backward`` replays the nodes reachable from the root in
reverse order of that number, with an explicit heap (no recursion: a 100,000-op graph is fine).

This module knows nothing about which ops exist; see ``tinygrad_w2v/ops``.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Any

from .backend import unbroadcast

if TYPE_CHECKING:
    from .tensor import Tensor

_counter = itertools.count()
_grad_enabled = True
_recorders: list[list[Node]] = []


class Node:
    """One recorded op: ``out = op(*inputs)`` and how to send ``out``'s gradient back to ``inputs``.

    A node does not hold its output (that would be a reference cycle); it keeps the output's shape
    for printing, and a tensor that asked to ``retain_grad`` registers itself in ``retained``.
    """

    __slots__ = ("op", "inputs", "backward", "seq", "out_shape", "retained")

    def __init__(self, op: str, inputs: tuple[Tensor, ...], backward: Callable, out_shape: tuple[int, ...]):
        self.op = op
        self.inputs = inputs
        self.backward = backward
        self.seq = next(_counter)
        self.out_shape = out_shape
        self.retained: Tensor | None = None
        if _recorders:
            for recorder in _recorders:
                recorder.append(self)

    @property
    def released(self) -> bool:
        """True once a backward pass without ``retain_graph`` has freed what this node saved."""
        return self.backward is None

    def __repr__(self) -> str:
        ins = ", ".join(str(tuple(t.shape)) for t in self.inputs)
        return f"<Node #{self.seq} {self.op}({ins}) -> {tuple(self.out_shape)}>"


def is_grad_enabled() -> bool:
    """Whether new ops are recorded."""
    return _grad_enabled


def set_grad_enabled(mode: bool) -> None:
    """Turn recording on or off globally (``no_grad`` is the scoped form)."""
    global _grad_enabled
    _grad_enabled = bool(mode)


class no_grad:
    """Context manager and decorator under which no op is recorded (PyTorch's ``torch.no_grad``)."""

    def __enter__(self) -> None:
        self._prev = _grad_enabled
        set_grad_enabled(False)

    def __exit__(self, *exc: object) -> None:
        set_grad_enabled(self._prev)

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with no_grad():
                return fn(*args, **kwargs)

        return wrapper


class Tape(list):
    """The nodes recorded inside a ``record()`` block, in execution order (a Wengert list)."""

    def __str__(self) -> str:
        return format_wengert(self)


@contextmanager
def record() -> Iterator[Tape]:
    """Collect every node recorded in the block, for study::

        with record() as tape:
            loss = (x * w).sum()
        print(tape)   # one line per op: number, op, input shapes -> output shape
    """
    tape = Tape()
    _recorders.append(tape)
    try:
        yield tape
    finally:
        _recorders.remove(tape)


def graph_nodes(root: Tensor) -> list[Node]:
    """The nodes that ``root`` depends on, in execution order (iterative depth-first search)."""
    seen: set[int] = set()
    nodes: list[Node] = []
    stack = [root.grad_fn] if root.grad_fn is not None else []
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        nodes.append(node)
        for t in node.inputs:
            if t.grad_fn is not None and id(t.grad_fn) not in seen:
                stack.append(t.grad_fn)
    nodes.sort(key=_seq)
    return nodes


def _seq(node: Node) -> int:
    return node.seq


def format_wengert(nodes: list[Node]) -> str:
    """One line per node, numbered in order: ``v3 = mul(v1, w)   (2, 3), (3,) -> (2, 3)``.

    Inputs made by an earlier line print as ``v<k>``; leaves print as their name, or as ``param`` /
    ``const`` with their shape; a result made outside ``nodes`` prints as ``#<op number>``."""
    number = {id(node): k for k, node in enumerate(nodes, start=1)}

    def ref(t: Tensor) -> str:
        if t.grad_fn is not None:
            k = number.get(id(t.grad_fn))
            return f"v{k}" if k is not None else f"#{t.grad_fn.seq}"
        return t.name or ("param" if t.requires_grad else "const") + str(tuple(t.shape))

    lines = []
    for k, node in enumerate(nodes, start=1):
        args = ", ".join(ref(t) for t in node.inputs)
        shapes = ", ".join(str(tuple(t.shape)) for t in node.inputs)
        lines.append(f"v{k} = {node.op}({args})  {shapes} -> {tuple(node.out_shape)}")
    return "\n".join(lines)


def backward(root: Tensor, grad: Any, retain_graph: bool = False) -> None:
    """Replay the nodes reachable from ``root`` in reverse execution order, accumulating gradients.

    A max-heap on the execution number pops a node only after every node that consumed its output
    (all of which ran later, so have larger numbers) has sent its gradient back. Gradients of
    intermediate results wait in ``pending`` and are dropped once their node has run; gradients of
    leaves that require grad accumulate into ``leaf.grad``.
    """
    start = root.grad_fn
    if start is None:
        root._accumulate_grad(grad)
        return
    pending: dict[Node, Any] = {start: grad}
    heap = [(-start.seq, start)]
    while heap:
        node = heappop(heap)[1]
        g = pending.pop(node)
        vjp = node.backward
        if vjp is None:
            raise RuntimeError(
                f"trying to backward through the graph a second time (op '{node.op}' #{node.seq}): "
                "its saved arrays were freed by the first backward; pass retain_graph=True to the first call"
            )
        if node.retained is not None:
            node.retained._accumulate_grad(g)
        if not retain_graph:
            node.backward = None
        for t, gt in zip(node.inputs, vjp(g)):
            if gt is None:
                continue
            parent = t.grad_fn
            if parent is None and not t.requires_grad:
                continue  # a constant
            if gt.shape != t.data.shape:
                gt = unbroadcast(gt, t.data.shape)
            if gt.dtype != t.data.dtype:  # a gradient has its tensor's dtype, as in PyTorch
                gt = gt.astype(t.data.dtype)
            if parent is None:  # a leaf: Tensor._accumulate_grad, inlined for speed
                t.grad = gt.copy() if t.grad is None else t.grad + gt
            elif parent in pending:
                pending[parent] = pending[parent] + gt
            else:
                pending[parent] = gt
                heappush(heap, (-parent.seq, parent))
