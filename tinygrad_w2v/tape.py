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
import gc
import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Any

from . import backend

if TYPE_CHECKING:
    from .tensor import Tensor

_counter = itertools.count()  # next() on it is atomic under the GIL: sequence numbers are unique across threads
watching = False  # set for good once any tensor's data is handed out while a graph needs it (Tensor.data)
recording = False  # set for good once any thread opens a record() block
scoping = False  # set for good once any thread opens a name_scope() block


def next_seq() -> int:
    """A sequence number later than every node recorded so far."""
    return next(_counter)


class _ThreadState(threading.local):
    """Per-thread recording state; every new thread starts with recording on and no recorder."""

    def __init__(self) -> None:  # runs once in each thread (values in the thread's own dict: fast to read)
        self.grad_enabled = True
        self.recorders: tuple[list[Node], ...] = ()
        self.levels: tuple[int, ...] = ()  # forward-mode levels open in this thread (see dual.py)
        self.scope = ""  # the enclosing name_scope()s, joined with "/"
        self.on_grad: Callable[[Node, Any], None] | None = None  # see watch_backward


_state = _ThreadState()


class Node:
    """One recorded op: ``out = op(*inputs)`` and how to send ``out``'s gradient back to ``inputs``.

    ``inputs`` are the node's parents: for an input made by an op, that op's node; for a leaf, the leaf
    tensor. A node holds its output's array (``_data``), not its output tensor, so a node stands in for
    its output wherever a consumer needs it: it answers what a tensor is asked during a replay or for a
    picture (``_data``, ``shape``, ``dtype``, ``name``, ``grad_fn``...). An intermediate tensor the user
    dropped is freed at once; only the arrays the backward will need stay alive, in the nodes.
    ``backward(g, out, *inputs)`` is the op's vector-Jacobian product rule: it returns one gradient (or
    None) per input, computed from the upstream gradient, the output and the inputs, which the replay
    passes as arrays or, to record the backward itself (``create_graph``), as tensors. A tensor that asked
    to ``retain_grad`` registers itself in ``retained``.
    A backward pass without ``retain_graph`` releases the node: the rule and the output array (and every
    array the rule's closure saved) are dropped, so keeping the root alive keeps no activation alive,
    while the graph's structure stays for pictures and listings.
    """

    # What most nodes never set, as class defaults (each node sets only what it has: this runs once per op).
    # scope, attrs, out_name and grad_norm are for pictures (grad_norm is set only under viz.track_grad_norms).
    scope = ""  # the enclosing name_scope()s, e.g. "layer0/t=3"
    attrs: dict | None = None  # e.g. {"axis": 1}
    out_name: str | None = None  # the name given to the output tensor
    retained: Tensor | None = None  # the output tensor, if it asked to retain_grad
    tangents: dict | None = None  # the output's forward-mode tangents (set by dual.push)
    rebinding = False  # a pass-through node for a result whose .data was rebound (see rebound)
    _watch: tuple | None = None  # see Tensor.data

    def __init__(
        self, op: str, inputs: tuple[Node | Tensor, ...], backward: Callable, out: Any, attrs: dict | None = None
    ):
        self.op = op
        if scoping:
            self.scope = _state.scope
        if attrs is not None:
            self.attrs = attrs
        self.inputs = inputs
        self.backward = backward
        self._data = out
        self.seq = next(_counter)
        self.out_shape = out.shape
        self.out_dtype = out.dtype
        if recording:
            for recorder in _state.recorders:
                recorder.append(self)

    @property
    def released(self) -> bool:
        """True once a backward pass without ``retain_graph`` has freed what this node saved."""
        return self.backward is None

    # What a consumer, a picture or a listing asks of an input, answered for the output this node stands for.
    shape = property(lambda self: self.out_shape)
    dtype = property(lambda self: self.out_dtype)
    ndim = property(lambda self: len(self.out_shape))
    grad_fn = property(lambda self: self)
    name = property(lambda self: self.out_name)
    requires_grad, is_leaf, grad = True, False, None

    def __repr__(self) -> str:
        ins = ", ".join(str(tuple(t.shape)) for t in self.inputs)
        return f"<Node #{self.seq} {self.op}({ins}) -> {tuple(self.out_shape)}>"


def rebound(node: Node, array: Any) -> Node:
    """The node of a result whose ``.data`` is rebound to ``array`` while ``node`` made it: a pass-through
    node holding ``array``, so that ops recorded from now on see the new values while the ones recorded
    before keep those they saw (in ``node``); the gradient of both reaches ``node``."""
    new = Node("data", (node,), _pass_gradient, array)
    new.rebinding = True
    return new


def _pass_gradient(g: Any, out: Any, a: Any) -> tuple[Any]:
    return (g,)


def made_by(t: Tensor) -> Node | None:
    """The node that receives ``t``'s whole gradient: the op that made ``t``, behind the pass-through nodes
    of rebinding its data (None for a leaf)."""
    node = t.grad_fn
    while node is not None and node.rebinding:
        node = node.inputs[0]
    return node


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
    global recording
    tape = Tape()
    recording = True
    _state.recorders = (*_state.recorders, tape)
    try:
        yield tape
    finally:
        _state.recorders = tuple(r for r in _state.recorders if r is not tape)


@contextmanager
def name_scope(name: str) -> Iterator[None]:
    """Label every node recorded inside with ``name`` (nested scopes join with "/", as in TensorFlow's
    ``tf.name_scope``); ``draw_graph`` draws each scope as a box and can collapse repeated ones::

        for t in range(T):
            with name_scope(f"t={t}"):
                h = (x[t] @ W_x + h @ W_h).tanh()
    """
    global scoping
    if not name or "/" in name:
        raise ValueError(f"name_scope: a name must be non-empty and without '/', got {name!r}")
    scoping = True
    outer = _state.scope
    _state.scope = f"{outer}/{name}" if outer else name
    try:
        yield
    finally:
        _state.scope = outer


@contextmanager
def watch_backward(hook: Callable[[Node, Any], None]) -> Iterator[None]:
    """Call ``hook(node, grad)`` in this thread for every node the replay runs, in replay order, with the
    complete gradient of the node's output, before the node's vector-Jacobian product runs."""
    outer = _state.on_grad
    _state.on_grad = hook
    try:
        yield
    finally:
        _state.on_grad = outer


def graph_nodes(root: Tensor) -> list[Node]:
    """The nodes that ``root`` depends on, in execution order."""
    return nodes_before([root.grad_fn] if root.grad_fn is not None else [])


def nodes_before(roots: list[Node]) -> list[Node]:
    """``roots`` and every node they depend on, in execution order (iterative depth-first search)."""
    seen: set[Node] = set()
    nodes: list[Node] = []
    stack = list(roots)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        nodes.append(node)
        for t in node.inputs:
            if type(t) is Node and t not in seen:  # a parent node (the other inputs are leaves)
                stack.append(t)
    nodes.sort(key=_seq)
    return nodes


def _seq(node: Node) -> int:
    return node.seq


def wengert_names(nodes: list[Node], outputs: tuple[Tensor, ...] = ()) -> dict[int, str]:
    """``id(node) -> variable`` for listing ``nodes``: the name given to the node's result (``h.name = "h1"``,
    seen where a later node or ``outputs`` use it), else ``v<k>`` for the k-th node."""
    names = {id(node): f"v{k}" for k, node in enumerate(nodes, start=1)}
    for t in itertools.chain((t for node in nodes for t in node.inputs), outputs):
        if t.name and t.grad_fn is not None and id(t.grad_fn) in names:
            names[id(t.grad_fn)] = t.name
    return names


def wengert_ref(t: Tensor, names: dict[int, str]) -> str:
    """How a listing refers to input ``t``: its variable, ``#<op number>`` for a result made outside the
    listing, and a leaf by its name or as ``param`` / ``const`` with its shape."""
    if t.grad_fn is not None:
        return names.get(id(t.grad_fn), f"#{t.grad_fn.seq}")
    return t.name or ("param" if t.requires_grad else "const") + str(tuple(t.shape))


def attrs_text(attrs: dict | None) -> str:
    """An op's attributes as call arguments: ``axis=1, keepdims=True``; an indexing key as ``key=[:, 3]``."""

    def text(v: Any) -> str:
        return f"{v.start or ''}:{'' if v.stop is None else v.stop}" if isinstance(v, slice) else str(v)

    return ", ".join(f"{k}=[{', '.join(map(text, v))}]" if k == "key" else f"{k}={v}" for k, v in (attrs or {}).items())


def format_wengert(nodes: list[Node], outputs: tuple[Tensor, ...] = ()) -> str:
    """One line per node, in order: ``v3 = sum(v1, axis=0)  (2, 3) -> (3,)``, then ``[scope]`` if any.

    Variables are named as in ``wengert_names``; inputs as in ``wengert_ref``."""
    names = wengert_names(nodes, outputs)
    lines = []
    for node in nodes:
        args = ", ".join([wengert_ref(t, names) for t in node.inputs] + [attrs_text(node.attrs)] * bool(node.attrs))
        shapes = ", ".join(str(tuple(t.shape)) for t in node.inputs)
        scope = f"  [{node.scope}]" if node.scope else ""
        lines.append(f"{names[id(node)]} = {node.op}({args})  {shapes} -> {tuple(node.out_shape)}{scope}")
    return "\n".join(lines)


def _describe(node: Node, k: int, t: Tensor) -> str:
    who = f"'{t.name}'" if t.name else f"{k}"
    return f"input {who} (shape {tuple(t.shape)}, dtype {t.dtype}) of op '{node.op}' #{node.seq}"


def check_unchanged(node: Node, k: int | None, t: Node | Tensor) -> None:
    """Raise if input ``k`` of ``node`` (its output for ``k=None``, with ``t = node``) no longer holds what
    the forward saw (see ``Tensor.data``): the array handed out for the oldest exposure at or after the
    node's forward, and its values then. A node recorded after the last exposure cannot be checked
    (nothing was handed out since its forward)."""
    entry = next((e for e in t._watch if e[2] >= node.seq), None)
    if entry is None:
        return
    original, snapshot, _ = entry
    if t._data is original and (snapshot is None or backend.xp_of(snapshot).array_equal(snapshot, original, True)):
        return
    how = "rebound (tensor.data = ...)" if t._data is not original else "modified in place"
    which = f"the output of op '{node.op}' #{node.seq}" if k is None else _describe(node, k, t)
    raise RuntimeError(
        f"one of the variables needed for gradient computation has been {how} after the forward: "
        f"{which}. Change a tensor's data only after the backward (optimizers do), or compute the "
        f"forward again"
    )


def fit_gradient(node: Node, k: int, t: Node | Tensor, g: Any) -> Any:
    """``g`` summed over broadcast axes to ``t``'s shape and cast to its dtype; a gradient of any other
    shape, or on another device, is an error of the op that returned it."""
    like = t if type(t) is Node and t._data is None else t._data  # a released node knows shape and dtype
    shape = tuple(like.shape)
    if g.shape != shape:
        reduced = backend.unbroadcast(g, shape) if len(g.shape) >= len(shape) else g
        if reduced.shape != shape:
            raise RuntimeError(
                f"op '{node.op}' #{node.seq} returned a gradient of shape {tuple(g.shape)} for "
                f"{_describe(node, k, t)}: expected shape {tuple(shape)} (or one that broadcasts to it)"
            )
        g = reduced
    where = backend.device_of(getattr(g, "_data", getattr(g, "values", g)))  # a Tensor, a RowSparse or an array
    if like is not t and where != backend.device_of(like):
        raise RuntimeError(
            f"op '{node.op}' #{node.seq} returned a gradient on {where} for {_describe(node, k, t)}, "
            f"which is on {backend.device_of(like)}"
        )
    if g.dtype == like.dtype:
        return g
    # a gradient has its tensor's dtype (a recorded Tensor is cast by an op, so it stays differentiable)
    return g.to(like.dtype) if hasattr(g, "grad_fn") else g.astype(like.dtype)


def _output_tensor(node: Node, wrap: Callable[[Any], Tensor]) -> Tensor:
    """``node``'s output as a tensor on the graph (the node does not keep its output tensor; see above),
    with the output's forward-mode tangents (``node.tangents``, set by ``dual.push``, unset otherwise)."""
    out = wrap(node._data)
    out.grad_fn, out.requires_grad, out._tangents = node, True, node.tangents
    return out


def _leading_to(targets: dict[int, Any], roots: list[Node]) -> set[Node]:
    """The nodes from which some target (a leaf by ``id``, or a node) can be reached: the only ones
    ``grad`` needs to replay."""
    useful: set[Node] = set()
    for node in nodes_before(roots):  # inputs were made before (smaller numbers): one pass suffices
        for t in node.inputs:
            if (t in useful or t in targets) if type(t) is Node else id(t) in targets:
                useful.add(node)
                break
    return useful


def replay(
    roots: list[tuple[Tensor, Any]],
    retain_graph: bool | None,
    create_graph: bool,
    targets: list[Tensor] | None,
    wrap: Callable[[Any], Tensor],
) -> list[Any] | None:
    """``_replay`` as ``Tensor.backward`` and ``grad`` run it: ``retain_graph`` defaults to ``create_graph``
    (as in PyTorch), a recorded backward records even inside ``no_grad``, and Python's cyclic garbage
    collector is paused: the replay makes no reference cycles (everything it frees goes by reference
    counting), and collections triggered by its many small objects would otherwise scan the whole live
    graph again and again (about a tenth of a backward's time)."""
    retain = create_graph if retain_graph is None else retain_graph
    paused = gc.isenabled()
    gc.disable()
    try:
        with enable_grad() if create_graph else nullcontext():
            return _replay(roots, retain, create_graph, targets, wrap)
    finally:
        if paused:
            gc.enable()


def _replay(
    roots: list[tuple[Tensor, Any]],
    retain_graph: bool = False,
    create_graph: bool = False,
    targets: list[Tensor] | None = None,
    wrap: Callable[[Any], Tensor] | None = None,
) -> list[Any] | None:
    """Replay the nodes reachable from ``roots`` (``(tensor, upstream gradient)`` pairs) in reverse
    execution order, summing the gradient that reaches each node before it runs.

    A max-heap on the execution number pops a node only after every node that consumed its output
    (all of which ran later, so have larger numbers) has sent its gradient back. Gradients of
    intermediate results wait in ``pending`` and are dropped once their node has run.

    Each node's rule gets the upstream gradient, the node's output and its inputs: as arrays (no
    recording, the fast first-order path) or, with ``create_graph``, as tensors, so that the rule's own
    ops are recorded and the gradients can be differentiated again.

    Without ``targets`` (``Tensor.backward``), gradients of leaves that require grad accumulate into
    ``leaf.grad``. With ``targets`` (``grad``), nothing is written to ``.grad``: the gradient of each
    target (a leaf, or an intermediate result: the gradient reaching its node) is returned, None where
    none arrives, and only the nodes that lead to a target run. ``wrap`` makes a constant tensor of an
    array (``Tensor._wrap``; needed with ``create_graph``: this module knows no ``Tensor``).
    """
    wanted: dict[Any, Any] | None = None
    useful: set[Node] | None = None
    if targets is not None:
        wanted = {}
        for t in targets:
            wanted[id(t) if t.grad_fn is None else made_by(t)] = None
        useful = _leading_to(wanted, [t.grad_fn for t, _ in roots if t.grad_fn is not None])
    pending: dict[Node, Any] = {}
    heap: list[tuple[int, Node]] = []
    for t, g in roots:
        g = wrap(g) if create_graph and not hasattr(g, "grad_fn") else g
        node = t.grad_fn
        if node is None:
            _deliver(t, g, wanted)
        elif node in pending:
            pending[node] = pending[node] + g
        else:
            pending[node] = g
            heappush(heap, (-node.seq, node))
    watched = []
    hook = _state.on_grad
    while heap:
        node = heappop(heap)[1]
        g = pending.pop(node)
        if wanted is not None:
            if node in wanted:
                wanted[node] = g
            if node not in useful:
                continue
        if hook is not None:
            hook(node, g)
        vjp = node.backward
        if vjp is None and node.rebinding:  # (it saves nothing: it passes gradients on after a release too)
            vjp = _pass_gradient
        if vjp is None:
            raise RuntimeError(
                f"trying to backward through the graph a second time (op '{node.op}' #{node.seq}): "
                "its saved arrays were freed by the first backward; pass retain_graph=True to the first call"
            )
        inputs = node.inputs
        if watching:
            for t in inputs:
                if t._watch is not None:
                    check_unchanged(node, _position(inputs, t), t)
                    watched.append(t)
            if node._watch is not None and getattr(vjp, "reads_out", False):  # see ops.base.reading_out
                check_unchanged(node, None, node)
                watched.append(node)
        if node.retained is not None:
            _deliver(node.retained, g, None)
        try:  # a rule that fails on an input released by an earlier backward gets a clear error
            if create_graph:
                # leaves as they are, parent nodes as their outputs: tensors on the graph
                grads = vjp(g, _output_tensor(node, wrap), *[_output_tensor(t, wrap) if type(t) is Node else t
                                                             for t in inputs])
            elif len(inputs) == 1:  # the arity cases spare building a list per node
                grads = vjp(g, node._data, inputs[0]._data)
            elif len(inputs) == 2:
                grads = vjp(g, node._data, inputs[0]._data, inputs[1]._data)
            else:
                grads = vjp(g, node._data, *[t._data for t in inputs])
            for t, gt in zip(inputs, grads):
                if gt is None:
                    continue
                if type(t) is Node:
                    parent, data, shape = t, t._data, t.out_shape  # (a node keeps its shape: no new tuple)
                    if data is None:  # released: the gradient is a target's, or the replay raises there
                        data = t
                elif t.requires_grad:
                    parent, data = None, t._data
                    shape = data.shape
                else:
                    continue  # a constant
                value = getattr(gt, "_data", gt) if create_graph else gt  # the array, to compare with the input's
                if value.shape != shape or value.dtype is not data.dtype or value.__class__ is not data.__class__:
                    gt = fit_gradient(node, _position(inputs, t), t, gt)
                if parent is None:
                    if wanted is not None:
                        _deliver(t, gt, wanted)
                    else:  # _deliver to a leaf's .grad, inlined: this runs for every parameter use
                        t.grad = (gt if create_graph else gt.copy()) if t.grad is None else t.grad + gt
                elif parent in pending:
                    pending[parent] = pending[parent] + gt
                elif wanted is None or parent in useful or parent in wanted:
                    pending[parent] = gt
                    heappush(heap, (-parent.seq, parent))
        except Exception:
            _check_not_released(inputs)
            raise
        if not retain_graph:
            node.backward = None
            if not create_graph:  # (a recorded backward's ops read this node's output: it stays)
                node._data = node.tangents = None
    if not retain_graph:
        for t in watched:
            t._watch = None
    if targets is None:
        return None
    return [wanted[id(t) if t.grad_fn is None else made_by(t)] for t in targets]


def _check_not_released(inputs: tuple[Node | Tensor, ...]) -> None:
    """Explain a rule's failure on an input whose node a previous backward released (a tensor computed
    before that backward, used again afterwards)."""
    for t in inputs:
        if type(t) is Node and t.released:
            raise RuntimeError(
                f"trying to backward through the graph a second time (op '{t.op}' #{t.seq}, an input of a "
                "later op): its saved arrays were freed by the first backward; pass retain_graph=True to the "
                "first call, or detach() the tensor before using it again"
            )


def _position(inputs: tuple[Tensor, ...], t: Tensor) -> int:
    """Where ``t`` is among ``inputs`` (by identity: ``==`` on tensors compares values), for messages."""
    return next(k for k, x in enumerate(inputs) if x is t)


def _deliver(leaf: Tensor, g: Any, wanted: dict[Any, Any] | None) -> None:
    """A gradient reaching a leaf (or a tensor that retains its grad): into ``leaf.grad``, never in place (an
    array is copied the first time, a recorded Tensor is taken as it is), or into ``wanted`` for ``grad``."""
    if wanted is None:
        if leaf.requires_grad:
            leaf.grad = (g if hasattr(g, "grad_fn") else g.copy()) if leaf.grad is None else leaf.grad + g
    elif id(leaf) in wanted:
        held = wanted[id(leaf)]
        wanted[id(leaf)] = g if held is None else held + g


