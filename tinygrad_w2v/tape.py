"""The tape: one ``Node`` per recorded op, the recording switch, and the reverse replay.

Every differentiable op that runs while recording is on, with at least one input that requires a
gradient, records a ``Node``: its name, its input tensors, its output's shape and dtype, and a
``backward`` closure that maps the gradient of the output to the gradients of the inputs (the
vector-Jacobian products). Nodes are numbered in execution order, so the recorded ops of any
computation read as a Wengert list, and ``backward`` replays the nodes reachable from the root in
reverse order of that number, with an explicit heap (no recursion: a 100,000-op graph is fine).

The replay holds every op to one contract, built-in or user-defined (``tinygrad_w2v.Function``): a
gradient has its input's shape (after summing broadcast axes), dtype and device, and no input changed
between the forward and the backward. Recording is switched per thread, as in PyTorch.

This module knows nothing about which ops exist; see ``tinygrad_w2v/ops``.
"""

from __future__ import annotations

import functools
import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Any

from . import backend

if TYPE_CHECKING:
    from .tensor import Tensor

_counter = itertools.count()  # next() on it is atomic under the GIL: sequence numbers are unique across threads


class _ThreadState(threading.local):
    """Per-thread recording state; every new thread starts with recording on and no recorder."""

    grad_enabled = True
    recorders: tuple[list[Node], ...] = ()


_state = _ThreadState()


class Node:
    """One recorded op: ``out = op(*inputs)`` and how to send ``out``'s gradient back to ``inputs``.

    A node does not hold its output (that would be a reference cycle); it keeps the output's shape and
    dtype for printing, and a tensor that asked to ``retain_grad`` registers itself in ``retained``.
    A backward pass without ``retain_graph`` releases the node: the closure (and every array it saved)
    is dropped, and each input that is not a parameter is replaced by its ``TensorInfo``, so that
    keeping the root alive keeps no activation alive, while pictures and listings still work.
    """

    __slots__ = ("op", "inputs", "backward", "seq", "out_shape", "out_dtype", "retained", "__weakref__")

    def __init__(self, op: str, inputs: tuple[Tensor, ...], backward: Callable, out: Any):
        self.op = op
        self.inputs = inputs
        self.backward = backward
        self.seq = next(_counter)
        self.out_shape = out.shape
        self.out_dtype = out.dtype
        self.retained: Tensor | None = None
        for recorder in _state.recorders:
            recorder.append(self)

    @property
    def released(self) -> bool:
        """True once a backward pass without ``retain_graph`` has freed what this node saved."""
        return self.backward is None

    def release(self) -> None:
        """Drop the saved arrays and every input tensor the forward computed (parameters stay)."""
        self.backward = None
        self.inputs = tuple(t if t.grad_fn is None and t.requires_grad else TensorInfo(t) for t in self.inputs)

    def __repr__(self) -> str:
        ins = ", ".join(str(tuple(t.shape)) for t in self.inputs)
        return f"<Node #{self.seq} {self.op}({ins}) -> {tuple(self.out_shape)}>"


class TensorInfo:
    """What a released node remembers of an input: shape, dtype, name and the node that made it; no data."""

    __slots__ = ("shape", "dtype", "name", "grad_fn", "requires_grad")
    grad = None
    is_leaf = property(lambda self: self.grad_fn is None)
    ndim = property(lambda self: len(self.shape))

    def __init__(self, t: Tensor):
        self.shape, self.dtype, self.name = t.shape, t.dtype, t.name
        self.grad_fn, self.requires_grad = t.grad_fn, t.requires_grad


def is_grad_enabled() -> bool:
    """Whether new ops are recorded in this thread."""
    return _state.grad_enabled


def set_grad_enabled(mode: bool) -> None:
    """Turn recording on or off for this thread (``no_grad`` / ``enable_grad`` are the scoped forms)."""
    _state.grad_enabled = bool(mode)


class _GradMode:
    """Context manager and decorator that sets this thread's recording switch to ``mode`` inside."""

    mode = True

    def __enter__(self) -> None:
        self._prev = _state.grad_enabled
        _state.grad_enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        _state.grad_enabled = self._prev

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """No op is recorded inside (PyTorch's ``torch.no_grad``); per thread: other threads keep recording."""

    mode = False


class enable_grad(_GradMode):
    """Recording is on inside, even within ``no_grad`` (PyTorch's ``torch.enable_grad``)."""

    mode = True


class Tape(list):
    """The nodes recorded inside a ``record()`` block, in execution order (a Wengert list)."""

    def __str__(self) -> str:
        return format_wengert(self)


@contextmanager
def record() -> Iterator[Tape]:
    """Collect every node recorded in the block by this thread, for study::

        with record() as tape:
            loss = (x * w).sum()
        print(tape)   # one line per op: number, op, input shapes -> output shape
    """
    tape = Tape()
    _state.recorders = (*_state.recorders, tape)
    try:
        yield tape
    finally:
        _state.recorders = tuple(r for r in _state.recorders if r is not tape)


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


def _describe(node: Node, k: int, t: Tensor) -> str:
    who = f"'{t.name}'" if t.name else f"{k}"
    return f"input {who} (shape {tuple(t.shape)}, dtype {t.dtype}) of op '{node.op}' #{node.seq}"


def check_unchanged(node: Node, k: int, t: Tensor) -> None:
    """Raise if input ``k`` of ``node`` no longer holds what the forward saw (see ``Tensor.data``)."""
    original, snapshot = t._watch
    if t._data is original and (snapshot is None or backend.xp_of(snapshot).array_equal(snapshot, original, True)):
        return
    how = "rebound (tensor.data = ...)" if t._data is not original else "modified in place"
    raise RuntimeError(
        f"one of the variables needed for gradient computation has been {how} after the forward: "
        f"{_describe(node, k, t)}. Change a tensor's data only after the backward (optimizers do), or "
        f"compute the forward again"
    )


def fit_gradient(node: Node, k: int, t: Tensor, g: Any) -> Any:
    """``g`` summed over broadcast axes to ``t``'s shape and cast to its dtype; a gradient of any other
    shape, or on another device, is an error of the op that returned it."""
    shape = t._data.shape
    if g.shape != shape:
        reduced = backend.unbroadcast(g, shape) if len(g.shape) >= len(shape) else g
        if reduced.shape != shape:
            raise RuntimeError(
                f"op '{node.op}' #{node.seq} returned a gradient of shape {tuple(g.shape)} for "
                f"{_describe(node, k, t)}: expected shape {tuple(shape)} (or one that broadcasts to it)"
            )
        g = reduced
    if backend.device_of(g if not hasattr(g, "values") else g.values) != backend.device_of(t._data):
        raise RuntimeError(
            f"op '{node.op}' #{node.seq} returned a gradient on {backend.device_of(g)} for {_describe(node, k, t)}, "
            f"which is on {backend.device_of(t._data)}"
        )
    return g if g.dtype == t._data.dtype else g.astype(t._data.dtype)  # a gradient has its tensor's dtype


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
    watched = []
    while heap:
        node = heappop(heap)[1]
        g = pending.pop(node)
        vjp = node.backward
        if vjp is None:
            raise RuntimeError(
                f"trying to backward through the graph a second time (op '{node.op}' #{node.seq}): "
                "its saved arrays were freed by the first backward; pass retain_graph=True to the first call"
            )
        inputs = node.inputs
        for k, t in enumerate(inputs):
            if t._watch is not None:
                check_unchanged(node, k, t)
                watched.append(t)
        if node.retained is not None:
            node.retained._accumulate_grad(g)
        if not retain_graph:
            node.release()
        for k, (t, gt) in enumerate(zip(inputs, vjp(g))):
            if gt is None:
                continue
            parent = t.grad_fn
            if parent is None and not t.requires_grad:
                continue  # a constant
            if gt.shape != t._data.shape or gt.dtype != t._data.dtype or type(gt) is not type(t._data):
                gt = fit_gradient(node, k, t, gt)
            if parent is None:  # a leaf: Tensor._accumulate_grad, inlined for speed
                t.grad = gt.copy() if t.grad is None else t.grad + gt
            elif parent in pending:
                pending[parent] = pending[parent] + gt
            else:
                pending[parent] = gt
                heappush(heap, (-parent.seq, parent))
    if not retain_graph:
        for t in watched:
            t._watch = None
