"""Hypothesis strategies for property-testing ops (needs the ``dev`` extra: ``hypothesis``).

Typical use, for an op you add yourself::

    @settings(max_examples=30, deadline=None)
    @given(arrays(shapes()))
    def test_my_op_grad(x):
        assert_grad_matches(my_op, x)

Shapes include 0-d arrays and size-1 axes (where broadcasting bugs hide); float elements are bounded
so that finite differences stay accurate; index arrays contain repeats and, where NumPy allows them,
negative values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

Shape = tuple[int, ...]


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4) -> st.SearchStrategy[Shape]:
    """Array shapes with ``min_dims..max_dims`` axes of ``min_side..max_side`` each (``()`` included by default)."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def arrays(
    shape: Shape | st.SearchStrategy[Shape],
    dtype: Any = np.float64,
    low: float = -3.0,
    high: float = 3.0,
    distinct: bool = False,
) -> st.SearchStrategy[np.ndarray]:
    """Float arrays of ``shape`` (a tuple or a strategy of shapes) with elements in ``[low, high]``.

    ``distinct=True`` makes every element differ from every other by at least 0.01 (so ``max`` has a
    unique winner that a finite-difference step of 1e-6 cannot change)."""
    if not distinct:
        width = np.dtype(dtype).itemsize * 8
        low, high = (float(np.dtype(dtype).type(v)) for v in (low, high))  # rounded to the dtype (hypothesis needs it)
        elements = st.floats(low, high, allow_nan=False, allow_infinity=False, width=width)
        return hnp.arrays(dtype, shape, elements=elements)
    # Distinct values: draw distinct integers on a 0.01 grid, then scale.
    grid = st.integers(int(round(low * 100)), int(round(high * 100)))
    return hnp.arrays(np.int64, shape, elements=grid, unique=True).map(lambda a: np.asarray(a / 100, dtype=dtype))


def positive_arrays(shape: Shape | st.SearchStrategy[Shape], low: float = 0.2, high: float = 3.0) -> Any:
    """Arrays with elements in ``[low, high]``: bases of ``pow``, arguments of ``log``, divisors."""
    return arrays(shape, low=low, high=high)


@st.composite
def away_from_zero(
    draw: Any, shape: Shape | st.SearchStrategy[Shape], margin: float = 0.1, high: float = 3.0
) -> np.ndarray:
    """Arrays whose elements have magnitude in ``[margin, high]``, either sign (``relu`` off its kink, divisors)."""
    magnitude = draw(arrays(shape, low=margin, high=high))
    signs = draw(hnp.arrays(np.float64, magnitude.shape, elements=st.sampled_from([-1.0, 1.0])))
    return np.asarray(magnitude * signs)


@st.composite
def broadcastable_shapes(draw: Any, max_dims: int = 3, max_side: int = 4) -> tuple[Shape, Shape]:
    """Two shapes that broadcast together: one drawn freely, the other made from it by dropping leading
    axes and setting some axes to 1 (in either order, so either operand may be the smaller one)."""
    shape = draw(shapes(max_dims=max_dims, max_side=max_side))
    other = draw(hnp.broadcastable_shapes(shape, min_dims=0, max_dims=len(shape), min_side=1, max_side=max_side))
    return (shape, other) if draw(st.booleans()) else (other, shape)


def axes(ndim: int, allow_none: bool = True, allow_tuple: bool = True) -> st.SearchStrategy[Any]:
    """A valid ``axis`` argument for an ``ndim``-d array: None, an int in ``[-ndim, ndim)`` or a tuple of
    distinct axes (negative ones included)."""
    options = []
    if allow_none:
        options.append(st.none())
    if ndim:
        one = st.integers(-ndim, ndim - 1)
        options.append(one)
        if allow_tuple:
            options.append(hnp.valid_tuple_axes(ndim, min_size=1))  # distinct, negative ones included
    elif allow_tuple:
        options.append(st.just(()))
    return st.one_of(options)


def index_arrays(
    size: int, shape: Shape | st.SearchStrategy[Shape] = (4,), allow_negative: bool = True
) -> st.SearchStrategy[np.ndarray]:
    """Integer index arrays into an axis of length ``size``: entries in ``[-size, size)`` (or ``[0, size)``),
    repeats allowed (they must accumulate in a scatter-add)."""
    low = -size if allow_negative else 0
    return hnp.arrays(np.int64, shape, elements=st.integers(low, size - 1))


def upstream(shape: Shape) -> st.SearchStrategy[np.ndarray]:
    """A random upstream gradient for an output of ``shape``, float64 in ``[-2, 2]``."""
    return arrays(shape, low=-2.0, high=2.0)
