"""Pictures and listings of a computation: ``draw_graph`` (graphviz) and ``wengert_list`` (text).

In a drawing, tensors are boxes labelled with their name (if any), shape and dtype; ops are ellipses
labelled with the op's name; parameters (leaves that require grad) are filled; constants are dashed.
With ``show_grads=True`` each tensor that holds a gradient shows its L2 norm.
"""

from __future__ import annotations

from typing import Any

from . import backend
from .sparse import RowSparse
from .tape import format_wengert, graph_nodes
from .tensor import Tensor

_PARAM = {"style": "filled", "fillcolor": "#ffe9a8"}
_CONST = {"style": "dashed"}
_OP = {"shape": "ellipse", "style": "filled", "fillcolor": "#dbe8ff"}


def _grad_norm(g: Any) -> float:
    values = g.coalesce().values if isinstance(g, RowSparse) else g
    return float(backend.xp_of(values).linalg.norm(values.ravel()))


def _tensor_label(t: Tensor, show_grads: bool) -> str:
    lines = [t.name] if t.name else []
    lines.append(f"{tuple(t.shape)} {t.dtype}")
    if show_grads and t.grad is not None:
        lines.append(f"|grad| = {_grad_norm(t.grad):.4g}")
    return "\n".join(lines)


def draw_graph(root: Tensor, show_grads: bool = False, rankdir: str = "LR") -> Any:
    """A ``graphviz.Digraph`` of the computation that produced ``root`` (needs the ``viz`` extra).

    Render it with ``.render(path, format="svg")`` or ``.pipe(format="png")``.
    """
    try:
        import graphviz
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("draw_graph needs the graphviz package: pip install 'tinygrad_w2v[viz]'") from e
    dot = graphviz.Digraph(graph_attr={"rankdir": rankdir}, node_attr={"shape": "box", "fontsize": "10"})
    seen: set[int] = set()
    stack = [root]
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        style = _PARAM if t.is_leaf and t.requires_grad else _CONST if t.is_leaf else {}
        dot.node(f"t{id(t)}", _tensor_label(t, show_grads), **style)
        node = t.grad_fn
        if node is None:
            continue
        dot.node(f"op{id(node)}", node.op, **_OP)
        dot.edge(f"op{id(node)}", f"t{id(t)}")
        for x in node.inputs:
            dot.edge(f"t{id(x)}", f"op{id(node)}")
            stack.append(x)
    return dot


def wengert_list(root: Tensor) -> str:
    """The ops that produced ``root`` in execution order, one per line (a Wengert list)."""
    return format_wengert(graph_nodes(root))
