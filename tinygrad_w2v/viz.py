"""Pictures and listings of a computation, for study.

- ``draw_graph(root)``: a Graphviz picture of the ops that made ``root`` (Jupyter shows it as SVG). Op
  nodes carry the op, its attributes and its output shape; boxes stand only for parameters, named
  constants and named results; each ``name_scope`` is a frame, and runs of repeated scopes (the time
  steps of an RNN) collapse into one box on big graphs. It states its size and refuses a graph too big
  to lay out quickly, saying how to draw a part.
- ``wengert_list(root)`` and ``adjoint_list(root)``: the forward program and the reverse sweep (the
  adjoint program the tape replays), one line per op.
- ``track_grad_norms()``: record the gradient norm of every op's result during a backward, so that
  ``draw_graph(root, show_grads=True)`` shows it on every node, not only on parameters.
- ``replay(root)``: run the backward and draw it one step at a time (an HTML page with a slider, or one
  picture per step).

Drawing needs the ``viz`` extra (the graphviz Python package) and Graphviz's ``dot`` program.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import backend
from .sparse import RowSparse
from .tape import Node, attrs_text, format_wengert, graph_nodes, watch_backward, wengert_names, wengert_ref
from .tensor import Tensor

COLLAPSE_ABOVE = 200  # ops: a bigger graph has its repeated name scopes collapsed unless collapse=False
MAX_OPS = 600  # ops drawn: Graphviz lays out this many in a few seconds; far more can take minutes

_FONT = {"fontname": "Helvetica", "fontsize": "12"}
_OP = {"shape": "box", "style": "rounded,filled", "fillcolor": "#dbe8ff"}
_PARAM = {"shape": "box", "style": "filled", "fillcolor": "#ffe9a8"}
_CONST = {"shape": "box", "style": "dashed"}
_NAMED = {"shape": "box", "style": "rounded"}
_GROUP = {"shape": "box3d", "style": "filled", "fillcolor": "#e8e8e8"}
_REF = {"shape": "box", "style": "dotted", "fontsize": "10", "height": "0.2"}  # a copy of a far-away node
# The replay's colours: which adjoints are complete (the node ran or runs now), partial, or not started.
_STEP = {
    "running": {"fillcolor": "#ff9f43", "penwidth": "3"},
    "done": {"fillcolor": "#a8e0a8"},
    "partial": {"fillcolor": "#e4f6e4", "style": "dashed"},
    "todo": {"fillcolor": "#f2f2f2", "fontcolor": "#777777"},
}


def _grad_norm(g: Any) -> float:
    g = g._data if isinstance(g, Tensor) else g  # a recorded gradient (create_graph)
    values = g.coalesce().values if isinstance(g, RowSparse) else g
    return float(backend.xp_of(values).linalg.norm(values.ravel()))


@contextmanager
def track_grad_norms() -> Iterator[None]:
    """Inside, every backward records on each node the L2 norm of the gradient of its result (costs one
    norm per op; nothing is recorded outside)::

        with track_grad_norms():
            loss.backward()
        draw_graph(loss, show_grads=True)
    """

    def hook(node: Node, g: Any) -> None:
        node.grad_norm = _grad_norm(g)

    with watch_backward(hook):
        yield


def wengert_list(root: Tensor) -> str:
    """The ops that produced ``root`` in execution order, one per line (a Wengert list)."""
    return format_wengert(graph_nodes(root), (root,))


# What each input's adjoint receives from an op: {y} is the op's result, {gy} its adjoint, {a}, {b} the
# inputs, {sa} the first input's shape, {n} its size over the result's, {axis}, {axes}, {key} the op's
# attributes. Every adjoint starts at zero.
_ADJOINT = {
    "add": ("{gy}", "{gy}"),
    "sub": ("{gy}", "-{gy}"),
    "mul": ("{gy} * {b}", "{gy} * {a}"),
    "div": ("{gy} / {b}", "-{gy} * {a} / {b}**2"),
    "neg": ("-{gy}",),
    "exp": ("{gy} * {y}",),
    "log": ("{gy} / {a}",),
    "tanh": ("{gy} * (1 - {y}**2)",),
    "sigmoid": ("{gy} * {y} * (1 - {y})",),
    "relu": ("{gy} * ({a} > 0)",),
    "log_sigmoid": ("{gy} * sigmoid(-{a})",),
    "softmax": ("{y} * ({gy} - sum({gy} * {y}, axis={axis}))",),
    "log_softmax": ("{gy} - exp({y}) * sum({gy}, axis={axis})",),
    "logsumexp": ("{gy} * exp({a} - {y})",),
    "matmul": ("{gy} @ {b}.T", "{a}.T @ {gy}"),
    "sum": ("broadcast({gy}, {sa})",),
    "mean": ("broadcast({gy}, {sa}) / {n}",),
    "max": ("{gy} * ({a} == {y}) / ties",),
    "reshape": ("reshape({gy}, {sa})",),
    "transpose": ("transpose({gy}, inverse of {axes})",),
    "getitem": ("[{key}] += {gy}",),  # an update of a slice: v_bar[key] += gy
    "gather": ("scatter_add(zeros{sa}, index, {gy}, axis={axis})",),
    "scatter_add": ("{gy}", "gather({gy}, index, axis={axis})"),
    "where": ("where(cond, {gy}, 0)", "where(cond, 0, {gy})"),
}
_ELEMENTWISE = {"add", "sub", "mul", "div", "where"}  # a broadcast input gets its adjoint summed back


def _adjoint_lines(node: Node, names: dict[int, str]) -> list[str]:
    """The adjoint updates ``node`` performs, one per input that needs a gradient."""
    y = names[id(node)]
    refs = [wengert_ref(t, names) for t in node.inputs]
    fields = {"y": y, "gy": f"{y}_bar", "a": refs[0], "b": refs[-1], "sa": tuple(node.inputs[0].shape)}
    fields.update({"axis": None, "axes": None}, **(node.attrs or {}))
    fields["key"] = attrs_text({"key": fields.get("key", ())})[5:-1]
    fields["n"] = math.prod(node.inputs[0].shape) // max(math.prod(node.out_shape), 1)
    lines = []
    for k, t in enumerate(node.inputs):
        if t.grad_fn is None and not t.requires_grad:
            continue
        rule = _ADJOINT.get(node.op)
        if rule is not None and len(rule) == len(node.inputs):
            expr = rule[k].format_map(fields)
        elif node.op in ("concatenate", "stack"):
            expr = f"{y}_bar[part {k} along axis {fields['axis']}]"
        else:
            expr = f"{node.op}.backward({y}_bar)[{k}]"
        if node.op in _ELEMENTWISE and tuple(t.shape) != tuple(node.out_shape):
            expr = f"sum_to({expr}, {tuple(t.shape)})"
        lines.append(f"{refs[k]}_bar{expr}" if expr.startswith("[") else f"{refs[k]}_bar += {expr}")
    return lines


def adjoint_list(root: Tensor) -> str:
    """The reverse sweep as a program: ``root_bar = 1``, then the adjoint updates of every op in the
    order the tape replays them (reverse execution order), each with the op and its number::

        v3_bar = 1
        v2_bar += broadcast(v3_bar, (2,))          # sum #3
        ...
    """
    nodes = graph_nodes(root)
    names = wengert_names(nodes, (root,))
    out = f"{wengert_ref(root, names)}_bar"
    lines = [(f"{out} = 1" if root.size == 1 else f"{out} = grad", f"shape {tuple(root.shape)}")]
    for k, node in reversed(list(enumerate(nodes, start=1))):
        lines += [(line, f"{node.op} (line {k})") for line in _adjoint_lines(node, names)]
    width = max(len(text) for text, _ in lines)
    return "\n".join(f"{text:<{width}}  # {note}" for text, note in lines)


def _drawn_scopes(nodes: list[Node]) -> dict[int, str]:
    """``id(node) -> the scope it is drawn in``: its own, except that a node read by a single node of a
    scope nested in its own (the piece of one time step that ``unbind`` cut from all steps at once) is
    drawn in that reader's scope."""
    readers: dict[int, dict[int, Node]] = {}
    for node in nodes:
        for t in node.inputs:
            if t.grad_fn is not None:
                readers.setdefault(id(t.grad_fn), {})[id(node)] = node
    scopes = {}
    for node in nodes:
        only = list(readers.get(id(node), {}).values())
        inner = len(only) == 1 and only[0].scope.startswith(f"{node.scope}/" if node.scope else "")
        scopes[id(node)] = only[0].scope if inner else node.scope
    return scopes


def _groups(nodes: list[Node], scope_of: dict[int, str]) -> dict[int, tuple[str, str, str]]:
    """``id(node) -> (group id, label, parent scope)`` for the nodes of collapsed scopes: among sibling
    scopes, each run of four or more that record the same ops (``unbind[3]`` and ``unbind[4]`` count as
    the same op) keeps its first and last scope and collapses the ones between into a single box."""
    children: dict[str, dict[str, list[Node]]] = {}
    for node in nodes:
        scope = scope_of[id(node)]
        parts = scope.split("/") if scope else []
        for d in range(len(parts)):
            children.setdefault("/".join(parts[:d]), {}).setdefault(parts[d], []).append(node)
    grouped: dict[int, tuple[str, str, str]] = {}
    for parent, kids in children.items():
        names = list(kids)
        prefix = f"{parent}/" if parent else ""

        signature = {name: tuple((scope_of[id(n)][len(prefix + name) :], re.sub(r"\[\d+\]$", "", n.op))
                                 for n in kids[name]) for name in names}
        start = 0
        for end in range(1, len(names) + 1):
            if end < len(names) and signature[names[end]] == signature[names[start]]:
                continue
            run = names[start:end]
            middle = run[1:-1]
            if len(middle) >= 2 and not any(id(n) in grouped for name in middle for n in kids[name]):
                gid = f"group_{len(grouped)}_{prefix}{middle[0]}"
                ops = len(kids[middle[0]])
                label = f"{middle[0]} … {middle[-1]}\n×{len(middle)}, {ops} ops each (as in {run[0]})"
                for name in middle:
                    for n in kids[name]:
                        grouped[id(n)] = (gid, label, parent)
            start = end
    return grouped


def _leaf_key(t: Tensor) -> str:
    return f"leaf{id(t)}"


def _build(
    root: Tensor,
    nodes: list[Node],
    show_grads: bool,
    collapse: bool | None,
    max_ops: int,
    rankdir: str,
    legend: bool,
    step: dict[int, str] | None = None,
    title: str = "",
    params: Any = None,
) -> Any:
    try:
        import graphviz
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("drawing needs the graphviz package: pip install 'tinygrad_w2v[viz]'") from e
    n_ops = len(nodes)
    if collapse is None:
        collapse = n_ops > COLLAPSE_ABOVE
    node_scope = _drawn_scopes(nodes)
    grouped = _groups(nodes, node_scope) if collapse else {}
    drawn = n_ops - len(grouped) + len({g for g, _, _ in grouped.values()})
    if drawn > max_ops:
        scopes = " after collapsing repeated name scopes" if grouped else ""
        raise ValueError(
            f"draw_graph: the graph has {n_ops} ops, {drawn} to draw{scopes}, more than max_ops={max_ops}; "
            f"Graphviz could take minutes. Draw a part (draw_graph of an intermediate tensor), wrap repeated "
            f"steps in name_scope(...) so they collapse, or pass max_ops={drawn} to draw it all"
        )
    param_names = {id(t): name for name, t in (dict(params) if params is not None else {}).items()}
    names = wengert_names(nodes, (root,))
    # results drawn as a box too: the named ones and the root
    named = {id(n): names[id(n)] for k, n in enumerate(nodes, start=1) if names[id(n)] != f"v{k}"}
    if root.grad_fn is not None:
        named.setdefault(id(root.grad_fn), "result")
    items: dict[str, list[tuple[str, str, dict]]] = {}  # scope -> (element id, label, attributes)
    edges: dict[tuple[str, str], None] = {}
    leaf_homes: dict[str, tuple[Any, dict[str, None]]] = {}

    def state_style(key: Any, base: dict) -> dict:
        """``base``, coloured by the replay's state of ``key`` (a node's id or a leaf's key)."""
        if step is None:
            return base
        extra = _STEP[step.get(key, "todo")]
        return {**base, **extra, "style": ",".join(filter(None, [base.get("style"), extra.get("style"), "filled"]))}

    def norm_text(value: float | None, key: Any) -> list[str]:
        known = step is None or step.get(key) in ("done", "running")  # a replay shows no norm ahead of time
        return [f"|g| {value:.3g}"] if show_grads and known and value is not None else []

    for node in nodes:
        if id(node) in grouped:
            continue
        scope = node_scope[id(node)]
        lines = [node.op + (f" · {attrs_text(node.attrs)}" if node.attrs else "")]
        boxed = id(node) in named
        if not boxed:
            lines.append(str(tuple(node.out_shape)))
        lines += [f"const {tuple(t.shape)}" for t in node.inputs if t.grad_fn is None and not t.requires_grad
                  and not t.name]
        lines += norm_text(getattr(node, "grad_norm", None), id(node))
        items.setdefault(scope, []).append((f"op{node.seq}", "\n".join(lines), state_style(id(node), _OP)))
        if boxed:
            label = f"{named[id(node)]}\n{tuple(node.out_shape)}"
            items[scope].append((f"out{node.seq}", label, state_style(id(node), _NAMED)))
            edges[(f"op{node.seq}", f"out{node.seq}")] = None

    def element(t: Any, home: str) -> str | None:
        """The id of what an edge from input ``t`` starts at, for a consumer drawn in scope ``home``."""
        if t.grad_fn is not None:
            gid = grouped.get(id(t.grad_fn))
            if gid is not None:
                return gid[0]
            return f"{'out' if id(t.grad_fn) in named else 'op'}{t.grad_fn.seq}"
        if not t.requires_grad and not t.name:
            return None  # an unnamed constant: folded into its op's label
        key = _leaf_key(t)
        leaf_homes.setdefault(key, (t, {}))[1][home] = None
        return key

    links: list[tuple[str, str, str]] = []  # (source, destination, scope of the destination)
    for node in nodes:
        gid = grouped.get(id(node))
        dst, home = (gid[0], gid[2]) if gid else (f"op{node.seq}", node_scope[id(node)])
        for t in node.inputs:
            src = element(t, home)
            if src is not None and src != dst:
                links.append((src, dst, home))
    for gid, label, parent in {g[0]: g for g in grouped.values()}.values():
        items.setdefault(parent, []).append((gid, label, _GROUP))
    for key, (t, homes) in leaf_homes.items():
        style = _PARAM if t.requires_grad else _CONST
        grad = t.grad
        label = "\n".join([t.name or param_names.get(id(t), "param"), str(tuple(t.shape))] + norm_text(
            None if grad is None else _grad_norm(grad), key))
        if t.requires_grad:
            style = state_style(key, style)
        items.setdefault(_common_scope(list(homes)), []).append((key, label, style))

    # Long edges between frames make Graphviz slow (an RNN's weights feed every step, every step feeds one
    # stack): a source read in more than 3 other scopes, or a destination fed from more than 3, is drawn
    # again, small, in each of those scopes, and the edges stay local.
    scope_of = {key: scope for scope, elements in items.items() for key, _, _ in elements}
    label_of = {key: label.split("\n")[0] for elements in items.values() for key, label, _ in elements}
    fan_out: dict[str, set[str]] = {}
    fan_in: dict[str, set[str]] = {}
    for src, dst, home in links:
        if scope_of[src] != home:
            fan_out.setdefault(src, set()).add(home)
            fan_in.setdefault(dst, set()).add(scope_of[src])
    for src, dst, home in links:
        if len(fan_out.get(src, ())) > 3 and scope_of[src] != home:
            copy = f"{src}@{home}"
            items[home].append((copy, f"{label_of[src]} ↓", _REF))  # home holds dst, so it exists
            src = copy
        elif len(fan_in.get(dst, ())) > 3 and scope_of[src] != scope_of[dst]:
            copy = f"{dst}@{scope_of[src]}"
            items[scope_of[src]].append((copy, f"↓ {label_of[dst]}", _REF))
            dst = copy
        edges[(src, dst)] = None
    for scope, elements in items.items():  # a copy is added once per scope, however many edges use it
        items[scope] = list({key: (key, label, style) for key, label, style in elements}.values())
    if root.grad_fn is None:  # a leaf alone
        items.setdefault("", []).append((_leaf_key(root), f"{root.name or 'tensor'}\n{tuple(root.shape)}", _PARAM))

    dot = graphviz.Digraph(
        graph_attr={"rankdir": rankdir, "nodesep": "0.2", "ranksep": "0.3", "newrank": "true", **_FONT},
        node_attr={"margin": "0.06,0.03", "height": "0.3", **_FONT},
        edge_attr={"arrowsize": "0.6", "color": "#555555"},
    )
    _emit(dot, items, "")
    # an edge into a node drawn in its reader's scope (a step's piece) does not rank it: the piece sits just
    # above its reader, so each step's frame stays below the step before instead of reaching up beside it
    moved = {f"op{n.seq}" for n in nodes if node_scope[id(n)] != n.scope}
    for src, dst in edges:
        dot.edge(src, dst, constraint="false" if dst in moved else None)
    n_params = sum(1 for t, _ in leaf_homes.values() if t.requires_grad)
    size = f"{n_ops} op{'s' * (n_ops != 1)}, {n_params} parameter{'s' * (n_params != 1)}"
    size += f"; drawn: {drawn} (repeats collapsed)" if grouped else ""
    if show_grads and any(not hasattr(node, "grad_norm") for node in nodes):
        size += "; |g| of results: run the backward inside viz.track_grad_norms()"
    dot.attr(label=_legend(title or size, show_grads, bool(grouped), step is not None) if legend else size,
             labelloc="b")
    return dot


def _common_scope(scopes: list[str]) -> str:
    """The innermost scope that contains all of ``scopes``."""
    common = scopes[0].split("/") if scopes[0] else []
    for scope in scopes[1:]:
        parts = scope.split("/") if scope else []
        while common and parts[: len(common)] != common:
            common.pop()
    return "/".join(common)


def _legend(caption: str, show_grads: bool, grouped: bool, steps: bool) -> str:
    """The graph's label: its size (or the replay's step) above a key to the shapes and colours."""
    def cell(text: str, fill: str = "white", style: str = "") -> str:
        return f'<TD BORDER="1" BGCOLOR="{fill}"{style} CELLPADDING="3">{text}</TD>'

    if steps:
        cells = [cell("runs now", _STEP["running"]["fillcolor"]), cell("adjoint complete", _STEP["done"]["fillcolor"]),
                 cell("adjoint partial", _STEP["partial"]["fillcolor"], ' STYLE="dashed"'),
                 cell("adjoint still zero", _STEP["todo"]["fillcolor"])]
    else:
        cells = [cell("op · attributes<BR/>output shape", _OP["fillcolor"], ' STYLE="rounded"'),
                 cell("parameter", _PARAM["fillcolor"]), cell("named constant", style=' STYLE="dashed"'),
                 cell("named result")]
        if grouped:
            cells.append(cell("repeated scopes", _GROUP["fillcolor"]))
        if show_grads:
            cells.append(cell("|g|: L2 norm of the gradient"))
    return (f'<<TABLE BORDER="0" CELLSPACING="4"><TR><TD COLSPAN="{len(cells)}">{html.escape(caption)}</TD></TR>'
            f'<TR>{"".join(cells)}</TR></TABLE>>')


def draw_graph(
    root: Tensor,
    show_grads: bool = False,
    collapse: bool | None = None,
    max_ops: int = MAX_OPS,
    rankdir: str = "TB",
    legend: bool = True,
    params: Any = None,
) -> Any:
    """A ``graphviz.Digraph`` of the ops that produced ``root``; Jupyter shows it as SVG, and
    ``.render(path, format="svg")`` or ``.pipe(format="png")`` write it.

    ``show_grads``: the L2 norm of each parameter's ``.grad`` and, if the backward ran inside
    ``track_grad_norms()``, of the gradient of every op's result. ``collapse``: draw each run of four or
    more sibling ``name_scope``s that record the same ops as first, "×n", last (default: when the graph
    has more than ``COLLAPSE_ABOVE`` ops). A graph with more than ``max_ops`` ops left to draw raises a
    ``ValueError`` that says how to draw a part. The label at the bottom states the size and explains
    the shapes and colours (``legend=False``: only the size). ``params``: names for unnamed parameters,
    e.g. ``model.named_parameters()`` (as torchviz's ``make_dot``).
    """
    return _build(root, graph_nodes(root), show_grads, collapse, max_ops, rankdir, legend, params=params)


def _emit(dot: Any, items: dict[str, list[tuple[str, str, dict]]], scope: str) -> None:
    """Add the elements of ``scope`` and, as nested clusters, of every scope directly inside it."""
    for key, label, style in items.get(scope, []):
        dot.node(key, label, **style)
    prefix = f"{scope}/" if scope else ""
    inner = {s[len(prefix):].split("/")[0] for s in items if s.startswith(prefix) and s != scope and s}
    for name in sorted(inner, key=_natural):
        path = prefix + name
        with dot.subgraph(name=f"cluster_{path}") as sub:
            sub.attr(label=name, style="rounded", color="#999999", fontcolor="#444444", **_FONT)
            _emit(sub, items, path)


def _natural(name: str) -> tuple:
    """Sort ``t=10`` after ``t=9``."""
    digits = "".join(c for c in name if c.isdigit())
    return (name.rstrip("0123456789"), int(digits) if digits else -1, name)


class Replay:
    """The reverse sweep of one backward, step by step: ``len(replay)`` steps, ``replay.frame(k)`` the
    picture of step ``k`` (a ``graphviz.Digraph``), ``replay.lines[k]`` its adjoint updates,
    ``write(folder)`` one picture per step, ``to_html()`` one page with a slider (what Jupyter shows)."""

    def __init__(self, root: Tensor, nodes: list[Node], order: list[Node], rankdir: str):
        self.root, self.nodes, self.order, self.rankdir = root, nodes, order, rankdir
        names = wengert_names(nodes, (root,))
        self.lines = [_adjoint_lines(node, names) for node in order]
        consumers: dict[str, list[int]] = {}  # element key -> ids of the nodes that read it
        for node in nodes:
            for t in node.inputs:
                key = id(t.grad_fn) if t.grad_fn is not None else _leaf_key(t)
                consumers.setdefault(key, []).append(id(node))
        self._consumers = consumers

    def __len__(self) -> int:
        return len(self.order)

    def states(self, k: int) -> dict[Any, str]:
        """Step ``k``: the node that runs, and for every result and parameter whether its adjoint is
        complete (all its consumers ran), partial (some did) or still zero."""
        ran = {id(node) for node in self.order[:k]}
        states: dict[Any, str] = {}
        for key, readers in self._consumers.items():
            done = sum(r in ran for r in readers)
            if done:
                states[key] = "done" if done == len(readers) else "partial"
        for node in self.order[:k]:
            states[id(node)] = "done"
        states[id(self.order[k])] = "running"
        return states

    def frame(self, k: int, legend: bool = True) -> Any:
        node = self.order[k]
        line = self.nodes.index(node) + 1
        title = f"step {k + 1} of {len(self)}: {node.op} (line {line}) runs: " + "; ".join(self.lines[k])
        return _build(self.root, self.nodes, True, False, MAX_OPS, self.rankdir, legend, self.states(k), title)

    def write(self, folder: str | Path, format: str = "svg") -> list[Path]:
        """One picture per step, ``step_01.svg`` ...; returns the paths."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        width = len(str(len(self)))
        return [Path(self.frame(k).render(folder / f"step_{k + 1:0{width}d}", format=format, cleanup=True))
                for k in range(len(self))]

    def to_html(self) -> str:
        """A self-contained HTML fragment: the step pictures as inline SVG and a slider to move between them."""
        uid = f"replay{id(self)}"
        frames = "".join(
            f'<div class="{uid}" style="display:{"block" if k == 0 else "none"}">'
            f'{self.frame(k).pipe(format="svg", encoding="utf-8").split("<svg", 1)[1].join(["<svg", ""])}</div>'
            for k in range(len(self))
        )
        script = (f"var f=document.getElementsByClassName('{uid}');"
                  "for(var i=0;i<f.length;i++){f[i].style.display=(i==this.value-1)?'block':'none';}"
                  f"document.getElementById('{uid}n').textContent=this.value;")
        return (f'<div><input type="range" min="1" max="{len(self)}" value="1" style="width:60%" '
                f'oninput="{html.escape(script)}"> step <span id="{uid}n">1</span> of {len(self)}{frames}</div>')

    _repr_html_ = to_html


def replay(root: Tensor, grad: Any = None, rankdir: str = "TB") -> Replay:
    """Run ``root.backward(grad)``, recording which node the tape replays at each step and the norm of
    every gradient, and return the steps to look at (see ``Replay``)."""
    nodes = graph_nodes(root)
    if len(nodes) > MAX_OPS // 4:
        raise ValueError(f"replay: {len(nodes)} ops is too many to draw one picture per step; use a smaller "
                         f"computation (at most {MAX_OPS // 4} ops)")
    order: list[Node] = []

    def hook(node: Node, g: Any) -> None:
        order.append(node)
        node.grad_norm = _grad_norm(g)

    with watch_backward(hook):
        root.backward(grad)
    return Replay(root, nodes, order, rankdir)
