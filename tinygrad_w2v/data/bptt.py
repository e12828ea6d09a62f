"""Truncated back-propagation through time: the corpus as ``batch`` parallel streams cut into windows.

As the book's ``RnnlmTrainer.get_batch``: inputs ``xs = ids[:-1]`` and targets ``ts = ids[1:]``; stream
``i`` reads from offset ``i * (len(xs) // batch)``; each window takes the next ``bptt`` positions of
every stream (wrapping around the end), so window ``n+1`` continues window ``n`` and the hidden state can
be carried across them. ``time_idx`` (how many positions have been read) persists across epochs.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


class BPTTBatches:
    """Iterating yields one epoch of ``(x, t)`` windows, each ``(batch_size, bptt)`` int32."""

    def __init__(self, ids: np.ndarray, batch_size: int, bptt: int):
        ids = np.asarray(ids)
        if ids.ndim != 1 or ids.dtype.kind not in "iu":
            raise ValueError(f"BPTTBatches: ids must be a 1-D integer array, got {ids.dtype} of shape {ids.shape}")
        if batch_size < 1 or bptt < 1:
            raise ValueError(f"BPTTBatches: batch_size and bptt must be positive, got {batch_size} and {bptt}")
        self.xs, self.ts = ids[:-1].astype(np.int32), ids[1:].astype(np.int32)
        self.batch_size, self.bptt = batch_size, bptt
        self.iters_per_epoch = len(self.xs) // (batch_size * bptt)
        if self.iters_per_epoch == 0:
            raise ValueError(
                f"BPTTBatches: {len(ids)} ids are too few for one window of batch {batch_size} x bptt {bptt}"
            )
        self.offsets = np.arange(batch_size) * (len(self.xs) // batch_size)
        self.time_idx = 0

    def __len__(self) -> int:
        return self.iters_per_epoch

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        steps = np.arange(self.bptt)
        for _ in range(self.iters_per_epoch):
            pos = (self.offsets[:, None] + self.time_idx + steps[None, :]) % len(self.xs)
            self.time_idx += self.bptt
            yield self.xs[pos], self.ts[pos]

    def state_dict(self) -> dict[str, int]:
        return {"time_idx": self.time_idx}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.time_idx = int(state["time_idx"])
