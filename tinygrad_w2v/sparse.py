"""``RowSparse``: the gradient of a gather from an embedding matrix, kept as (row indices, row values).

An embedding lookup of ``m`` rows from a ``(V, D)`` matrix has a gradient that is zero outside those
rows. Keeping it as ``indices (m,)`` and ``values (m, D)`` makes the backward and the optimizer step
cost O(m x D) instead of O(V x D). Duplicated indices are allowed until ``coalesce`` sums them.
"""

from __future__ import annotations

from typing import Any

from . import backend


class RowSparse:
    """A ``shape``-shaped array that is zero except at rows ``indices``, which hold ``values``.
    ``coalesced``: the indices are known to be unique and sorted (``coalesce`` has nothing to do)."""

    __array_ufunc__ = None  # ``ndarray + RowSparse`` defers to ``RowSparse.__radd__``

    def __init__(self, indices: Any, values: Any, shape: tuple[int, ...], coalesced: bool = False):
        if values.shape != (indices.shape[0],) + tuple(shape[1:]):
            raise ValueError(
                f"RowSparse: values of shape {values.shape} do not match {indices.shape[0]} rows of {shape}"
            )
        self.indices = indices
        self.values = values
        self.shape = tuple(shape)
        self.coalesced = coalesced

    @property
    def dtype(self) -> Any:
        return self.values.dtype

    def coalesce(self) -> RowSparse:
        """The same array with unique, sorted row indices (duplicate rows summed); itself if it has them."""
        if self.coalesced:
            return self
        xp = backend.xp_of(self.values)
        rows, inverse = xp.unique(self.indices, return_inverse=True)
        summed = backend.index_sum_rows(rows.shape[0], inverse.reshape(-1), self.values)
        return RowSparse(rows, summed, self.shape, coalesced=True)

    def astype(self, dtype: Any) -> RowSparse:
        """The same rows with values cast to ``dtype`` (a gradient takes its tensor's dtype)."""
        return RowSparse(self.indices, self.values.astype(dtype), self.shape, self.coalesced)

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        """``np.asarray(row_sparse)`` is the dense array (as a NumPy array, from any device)."""
        dense = backend.to_numpy(self.to_dense())
        return dense if dtype is None else dense.astype(dtype)

    def copy(self) -> RowSparse:
        return RowSparse(self.indices.copy(), self.values.copy(), self.shape, self.coalesced)

    def to_dense(self) -> Any:
        """The full ``shape`` array."""
        xp = backend.xp_of(self.values)
        dense = xp.zeros(self.shape, dtype=self.values.dtype)
        return backend.index_add_rows(dense, self.indices, self.values)

    def __add__(self, other: Any) -> Any:
        if isinstance(other, RowSparse):
            if other.shape != self.shape:
                raise ValueError(f"RowSparse: cannot add shapes {self.shape} and {other.shape}")
            xp = backend.xp_of(self.values)
            return RowSparse(
                xp.concatenate([self.indices, other.indices]), xp.concatenate([self.values, other.values]), self.shape
            )
        return backend.index_add_rows(other.copy(), self.indices, self.values)

    __radd__ = __add__

    def __mul__(self, scale: float) -> RowSparse:
        return RowSparse(self.indices, self.values * scale, self.shape, self.coalesced)

    __rmul__ = __mul__

    def __repr__(self) -> str:
        return f"RowSparse(shape={self.shape}, rows={self.indices.shape[0]}, dtype={self.values.dtype})"
